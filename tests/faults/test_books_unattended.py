"""Books left alone: a chunk Fish can never render and an assembly that kills its worker both end the book, in bounded
time, saying why; `narrate retry BOOK_ID` then finishes it from what is stored. Real workers, killed for real."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from tests.conftest import EmulatorControl
from tests.faults.conftest import Row, _rows
from tests.support.epubs import write_epub
from worker import keys
from worker.books.plan import BookPlan
from worker.books.state import BookState
from worker.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.fault]  # real workers, as every test of the fault suite
BOOK = {"NARRATE_CHUNK_BYTES": "120", "NARRATE_MAX_ATTEMPTS": "3"}
DOOMED = "This sentence is one Fish can never say."


@pytest.fixture
def book_env(stack_env, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BOOK.items():
        monkeypatch.setenv(name, value)
    from worker.settings import get_settings

    get_settings.cache_clear()


def submit(tmp_path: Path, bucket: str, voice, *, chapters: list[tuple[str, list[str]]]) -> BookPlan:  # noqa: ANN001
    path = write_epub(tmp_path / "book.epub", title="Unattended", author="A", chapters=chapters, cover=False)
    plan, _ = BookSubmitter.from_settings(Settings()).submit(
        read_book(str(path)), voice=voice, out=f"s3://{bucket}/left-alone"
    )
    return plan


def wait_state(book_id: str, state: str, *, timeout: float) -> dict:
    books = BookState.from_url(Settings().broker_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        book = books.get(book_id) or {}
        if book.get("state") == state:
            return book
        assert book.get("state") not in ("succeeded", "failed"), f"ended {book.get('state')}: {book.get('error')}"
        time.sleep(0.1)
    raise AssertionError(f"book not {state} in {timeout:.0f}s: {books.get(book_id)}")


def renders(emulator: EmulatorControl, plan: BookPlan) -> Counter:
    """How often Fish was paid for each of the book's chunk texts (answered 200)."""
    texts = {c.text for chapter in plan.chapters for c in chapter.chunks}
    return Counter(r["text"] for r in emulator.requests() if r["status"] == 200 and r["text"] in texts)


def test_14_a_chunk_fish_never_renders_fails_its_book_then_retry_finishes_it(
    fault_workers, book_env, emulator, bucket, voice, tmp_path
) -> None:
    emulator.control(tone_mode=True, empty_audio_for=DOOMED)
    fault_workers(count=1, **BOOK)
    paragraphs = ["The first paragraph is fine.", DOOMED, "The third paragraph is fine too."]
    plan = submit(tmp_path, bucket, voice, chapters=[("One", paragraphs), ("Two", ["A second chapter, all fine."])])
    book = wait_state(plan.book_id, "failed", timeout=90)
    assert book["error"].startswith(f'chapter 1, chunk 2 ("{DOOMED}") failed 3 times (NARRATE_MAX_ATTEMPTS is 3)'), (
        book["error"]
    )
    assert renders(emulator, plan)[DOOMED] == 3, "paid for exactly as often as the bound allows"

    emulator.control(empty_audio_for="")  # Fish is fixed; the publisher retries the book
    result = CliRunner().invoke(app, ["retry", plan.book_id])
    assert result.exit_code == 0 and "started again" in result.output, result.output
    wait_state(plan.book_id, "succeeded", timeout=90)
    paid = renders(emulator, plan)
    assert paid[DOOMED] == 4 and all(n == 1 for text, n in paid.items() if text != DOOMED), (
        "the rest was reused, not paid again"
    )
    _rows.append(
        Row(
            scenario="14-book-chunk-never-renders",
            jobs=1,
            succeeded=1,
            failed=0,
            duplicates=0,
            lost=0,
            retries=paid[DOOMED] - 1,
            extra_fish_calls=sum(n - 1 for t, n in paid.items() if t != DOOMED),
        )
    )


def pool_processes(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(child) for child in children]


def test_15_an_assembly_that_kills_its_worker_fails_its_book_saying_why(
    fault_workers, book_env, emulator, bucket, voice, tmp_path
) -> None:
    emulator.control(tone_mode=True)
    (worker,) = fault_workers(count=1, concurrency=1, **BOOK)
    paragraphs = [f"Paragraph {n} of a chapter long enough to take a while to assemble." for n in range(20)]
    plan = submit(tmp_path, bucket, voice, chapters=[("Long", paragraphs)])
    client = redis.Redis.from_url(Settings().broker_url)
    chapter = keys.book_chapter(plan.book_id, 0)
    kills, seen = 0, b""
    deadline = time.monotonic() + 180
    while kills < 3:  # each delivery of the chapter's assembly dies as an out-of-memory kill would end it
        assert time.monotonic() < deadline, f"only {kills} kills: {client.hgetall(chapter)}"
        started = client.hget(chapter, "updated_at") if client.hget(chapter, "state") == b"assembling" else None
        if started and started != seen:
            for child in pool_processes(worker.process.pid):
                os.kill(child, signal.SIGKILL)
            kills, seen = kills + 1, started
        time.sleep(0.02)
    book = wait_state(plan.book_id, "failed", timeout=60)
    assert book["error"].startswith("chapter 1's assembly was killed 3 times (out of memory"), book["error"]
    assert worker.alive(), "the worker itself lives on: only its pool processes were killed"
    paid = renders(emulator, plan)
    assert all(n == 1 for n in paid.values()), (
        "the chapter's chunks were rendered once, whatever happened to its assembly"
    )
    _rows.append(
        Row(
            scenario="15-assembly-killed-every-time",
            jobs=1,
            succeeded=0,
            failed=1,
            duplicates=0,
            lost=0,
            retries=2,
            extra_fish_calls=sum(n - 1 for n in paid.values()),
        )
    )


def test_16_a_book_whose_plan_vanished_fails_and_the_stalled_one_beside_it_finishes(
    fault_workers, book_env, emulator, bucket, voice, tmp_path
) -> None:
    from worker.storage import Storage

    emulator.control(tone_mode=True)
    orphan = submit(tmp_path, bucket, voice, chapters=[("One", ["A book whose plan is about to vanish."])])
    stalled = submit(tmp_path, bucket, voice, chapters=[("One", ["A book whose messages are lost, then rescued."])])
    client = redis.Redis.from_url(Settings().broker_url)
    client.delete("narrate")  # both books' chunk messages are lost, as in a failover that lost writes
    Storage().delete(bucket, keys.book_plan("left-alone", orphan.book_id))
    for plan in (orphan, stalled):
        client.hset(keys.book_record(plan.book_id), "updated_at", time.time() - 10_000)  # both look stalled
    fault_workers(
        count=1, extra_args=["-B"], NARRATE_RECONCILE_SECONDS="1", NARRATE_RECONCILE_STALE_SECONDS="5", **BOOK
    )
    lost = wait_state(orphan.book_id, "failed", timeout=60)
    assert "plan" in lost["error"] and "missing" in lost["error"], lost["error"]
    wait_state(stalled.book_id, "succeeded", timeout=60)
    paid = renders(emulator, stalled)
    assert list(paid.values()) == [1], "the stalled book's chunk was rendered once"
    assert not renders(emulator, orphan), "nothing of the orphan was paid for"
    _rows.append(
        Row(
            scenario="16-plan-vanished-beside-stalled",
            jobs=2,
            succeeded=1,
            failed=1,
            duplicates=0,
            lost=0,
            retries=0,
            extra_fish_calls=sum(n - 1 for n in paid.values()),
        )
    )
