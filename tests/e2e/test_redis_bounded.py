"""Nothing grows without end in Redis: jobs, books and a pipeline run to the end with real workers, their
records' TTL passes, and only the registry and configuration are left.

What may stay is listed below with the reason (ALLOWED, and EXPIRING while it carries its own expiry); every
other `narrate:*` key is a leak, reported by family (ids, hashes, numbers and dates generalised) with its type
and expiry, so each family's owner can be found.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from producer.dev.services import Service
from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from tests.conftest import EmulatorControl
from tests.support.epubs import fable
from worker.books.state import BookState
from worker.settings import Settings, get_settings
from worker.storage import Storage

pytestmark = pytest.mark.e2e
runner = CliRunner()
TTL_SECONDS = 6  # several times what `wait` and the pipeline, polling every 0.5 s, need to read each outcome
QUICK_BEAT = {
    "NARRATE_JOB_TTL_SECONDS": str(TTL_SECONDS),
    "NARRATE_SWEEP_SECONDS": "1",
    "NARRATE_RECONCILE_SECONDS": "1",
}

ALLOWED = {
    r"narrate:ref:<hash>": "the voice registry: a reference's uses and its Fish voice, so no voice is created twice",
    r"narrate:refs": "the registry's index",
    r"narrate:voice:[^:]+|narrate:voices": "named voices and their index: configuration",
    r"narrate:pipeline:[^:]+:(last_run|totals|next_run|cursor)": "one small status record per configured pipeline",
    r"narrate:pipeline:[^:]+:(seen|seen:at|etags|etags:of)": "a pipeline's memory of the files it has paid for,"
    " by content and by ETag (so a copy is never paid for, nor downloaded, again); each run drops entries older than"
    " the record TTL, and any past 100,000",
    r"narrate:redbeat:.*": "beat's schedule (one entry per periodic task) and its lock",
}
# Allowed only while they carry an expiry of their own: bounded by time, not by the record TTL.
EXPIRING = {
    r"narrate:pipeline:[^:]+:spend:<date>": "a pipeline's spend of one day, held against its daily budget"
    " until the day is over",
}
SEEN_ENTRY_BYTES = 1024  # what status needs of a settled file, not its loudness reports


def family(key: str) -> str:
    """The key with its ids, hashes, numbers and dates generalised: what one owner writes."""
    key = re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", key)
    return ":".join(
        "<hash>"
        if re.fullmatch(r"[0-9a-f]{64}", p)
        else "<id>"
        if re.fullmatch(r"[0-9a-f]{32}", p)
        else "<n>"
        if p.isdigit()
        else p
        for p in key.split(":")
    )


def leftovers(client: redis.Redis) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for raw in client.scan_iter(match="narrate:*", count=1000):
        key = raw.decode()
        allowed = any(re.fullmatch(pattern, family(key)) for pattern in ALLOWED)
        if not allowed and not (
            any(re.fullmatch(pattern, family(key)) for pattern in EXPIRING) and client.ttl(key) > 0
        ):
            found.setdefault(family(key), []).append(key)
    return found


def describe(client: redis.Redis, found: dict[str, list[str]]) -> str:
    def why(key: str) -> str:
        ttl = client.ttl(key)
        return "never expires" if ttl == -1 else f"expires in {ttl} s, not after NARRATE_JOB_TTL_SECONDS"

    return "\n".join(
        f"  {name}: {len(names)} key(s), e.g. {names[0]} ({client.type(names[0]).decode()}, {why(names[0])})"
        for name, names in sorted(found.items())
    )


def wait_for_book(book_id: str, *, timeout: float = 120) -> str:
    state = BookState.from_url(Settings().broker_url)
    deadline = time.monotonic() + timeout
    while (found := state.state_of(book_id)) not in ("succeeded", "failed"):
        assert time.monotonic() < deadline, f"book {book_id} did not finish: {state.get(book_id)}"
        time.sleep(0.2)
    return found


def submit_jobs(bucket: str, clip: tuple, texts: list[str], tmp_path) -> list[str]:  # noqa: ANN001
    files = []
    for number, text in enumerate(texts):
        files.append(tmp_path / f"job-{len(list(tmp_path.glob('job-*')))}-{number}.txt")
        files[-1].write_text(text, encoding="utf-8")
    result = runner.invoke(
        app,
        [
            "submit",
            *map(str, files),
            "--voice",
            str(clip[0]),
            "--transcript",
            clip[1],
            "--out",
            f"s3://{bucket}/jobs",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    return [job["job_id"] for job in json.loads(result.stdout)["jobs"]]


def run_pipeline(bucket: str, clip: tuple, tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """An inbox pipeline with a text and a book, run (`narrate pipelines run`) until both are filed."""
    added = runner.invoke(
        app,
        ["voices", "add", "narrator", "--clip", str(clip[0]), "--transcript", clip[1], "--bucket", f"s3://{bucket}"],
    )
    assert added.exit_code == 0, added.output
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        f"pipelines:\n  - name: bounded\n    inbox: s3://{bucket}/inbox/\n    out: s3://{bucket}/audio/\n"
        "    voice: narrator\n    every: 1h\n"
    )
    monkeypatch.setenv("NARRATE_PIPELINES_FILE", str(config))
    get_settings.cache_clear()
    storage = Storage()
    storage.put(bucket, "inbox/note.txt", b"A short note, dropped into the inbox.", content_type="text/plain")
    storage.put(
        bucket,
        "inbox/book.md",
        b"# The Inbox\n\n## One\n\nA book in the inbox.\n\n## Two\n\nIts end.\n",
        content_type="text/markdown",
    )
    deadline = time.monotonic() + 120
    while not all(storage.exists(bucket, f"processed/bounded/{name}.result.json") for name in ("note", "book")):
        assert time.monotonic() < deadline, (
            f"the pipeline did not file its results: {[k for k, _ in storage.list(bucket, '')]}"
        )
        ran = runner.invoke(app, ["pipelines", "run", "bounded"])
        assert ran.exit_code == 0, ran.output
        time.sleep(0.5)


def test_after_the_ttl_only_the_registry_and_configuration_are_left(
    workers: Callable[..., Service],
    book_env,
    bucket,
    emulator: EmulatorControl,
    voice,
    reference_clip,
    tmp_path,  # noqa: ANN001, F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    workers(beat=True, **QUICK_BEAT)
    client = redis.Redis.from_url(Settings().broker_url)

    # Jobs: a batch that succeeds, then one Fish refuses for good.
    batch = submit_jobs(
        bucket, reference_clip, ["The first job of the batch.", "The second one.", "And a third."], tmp_path
    )
    assert runner.invoke(app, ["wait", *batch, "--timeout", "120"]).exit_code == 0
    emulator.control(fail_status=403, fail_count=1)
    refused = submit_jobs(bucket, reference_clip, ["Nobody pays for this one."], tmp_path)
    assert runner.invoke(app, ["wait", *refused, "--timeout", "120"]).exit_code == 1

    # Books: one that Fish refuses part-way (it fails), one that is made.
    submitter = BookSubmitter.from_settings(Settings())
    book = read_book(str(fable(tmp_path / "fable.epub")))
    emulator.control(fail_status=403, fail_count=1)
    failed, _ = submitter.submit(book, voice=voice, out=f"s3://{bucket}/failed")
    assert wait_for_book(failed.book_id) == "failed"
    made, _ = submitter.submit(book, voice=voice, out=f"s3://{bucket}/made", title="Made")
    assert wait_for_book(made.book_id) == "succeeded"

    run_pipeline(bucket, reference_clip, tmp_path, monkeypatch)

    # The TTL passes; beat's sweeps run meanwhile. Whatever is left by then, and not allowed, is a leak.
    deadline = time.monotonic() + TTL_SECONDS + 20
    while (left := leftovers(client)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left == {}, "keys left after their TTL, by family:\n" + describe(client, left)
    for name in client.scan_iter(match="narrate:pipeline:*:seen"):
        entries = client.hgetall(name)
        big = {field.decode(): len(value) for field, value in entries.items() if len(value) > SEEN_ENTRY_BYTES}
        assert big == {}, f"{name.decode()} keeps more than status needs: {big} bytes"
