"""Audiobook steps under faults and duplicates, in-process: real Redis, real S3 API, the Fish emulator.

Tasks run eagerly (`task.apply()`: a retry runs again at once, with the counts
it carries); what they would send to the broker is recorded instead.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import redis

from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.support.epubs import write_epub
from worker import keys
from worker.books import tasks
from worker.books.chunk import held_chunk_key, render_chunk
from worker.books.context import BookContext
from worker.books.heartbeat import book_heartbeat
from worker.books.plan import BookPlan, chunk_messages
from worker.books.state import BookState
from worker.books.tasks import BookTask
from worker.books.units import BookUnit
from worker.errors import StorageUnavailable
from worker.fish.client import FishClient
from worker.renders.held import HeldRenders
from worker.settings import Settings, get_settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext

CHAPTERS = [
    (
        "Long",
        [
            "The first paragraph of the long chapter.",
            "The second paragraph comes next.",
            "A third paragraph follows it.",
            "The fourth and last paragraph.",
        ],
    ),
    ("Short", ["Only one paragraph here."]),
]


class FlakyStorage(Storage):
    """S3 as the tests need it: a PUT or GET refused once, GETs slowed down, uploads recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_put: set[str] = set()  # keys whose next PUT fails
        self.refuse_get: dict[str, tuple[int, Exception]] = {}  # key: (the n-th GET of it fails, with this)
        self.gets: dict[str, int] = {}
        self.uploads: list[str] = []
        self.slow_get = 0.0
        self.on_get = lambda: None

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        if key in self.refuse_put:
            self.refuse_put.discard(key)
            raise StorageUnavailable(f"s3://{bucket}/{key}: S3 is unreachable (test)")
        super().put(bucket, key, data, content_type=content_type)

    def put_file(self, bucket: str, key: str, path: str, *, content_type: str) -> None:
        self.uploads.append(key)
        super().put_file(bucket, key, path, content_type=content_type)

    def compose(self, bucket: str, key: str, pieces: list, *, content_type: str, scratch) -> None:  # noqa: ANN001
        self.uploads.append(key)
        super().compose(bucket, key, pieces, content_type=content_type, scratch=scratch)

    def get(self, bucket: str, key: str) -> bytes | None:
        self.gets[key] = self.gets.get(key, 0) + 1
        if key in self.refuse_get and self.refuse_get[key][0] == self.gets[key]:
            raise self.refuse_get.pop(key)[1]
        if self.slow_get and key.startswith("chunks/"):
            time.sleep(self.slow_get)
            self.on_get()
        return super().get(bucket, key)


@pytest.fixture
def book_env(stack_env, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "NARRATE_PROMOTE_AFTER": "off",
        "NARRATE_CHUNK_BYTES": "120",
        "NARRATE_MAX_ATTEMPTS": "3",
        "NARRATE_WEBHOOK_SECRET": "s",
        "NARRATE_WEBHOOK_ALLOW": "127.0.0.1/32",
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def storage(book_env) -> FlakyStorage:
    return FlakyStorage()


@pytest.fixture
def ctx(book_env, redis_client: redis.Redis, storage: FlakyStorage, emulator) -> BookContext:
    emulator.control(tone_mode=True)
    settings = Settings()
    render = RenderContext(
        settings=settings, storage=storage, fish=FishClient(settings), held=HeldRenders(redis_client)
    )
    return BookContext(render=render, state=BookState(redis_client))


@pytest.fixture
def sent(ctx: BookContext, monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """The tasks run with this context; what they would enqueue is kept here."""
    sent: dict[str, list] = {"chunk": [], "chapter": [], "book": [], "notify": []}
    monkeypatch.setattr(tasks, "book_context", lambda: ctx)
    monkeypatch.setattr(tasks, "enqueue_chunk", lambda message: sent["chunk"].append(message))
    monkeypatch.setattr(tasks, "enqueue_chapter", lambda *args: sent["chapter"].append(args))
    monkeypatch.setattr(tasks, "enqueue_book", lambda *args: sent["book"].append(args))
    monkeypatch.setattr(tasks.notify, "apply_async", lambda args, **options: sent["notify"].append(args))
    return sent


@pytest.fixture
def voice(reference_clip):  # noqa: ANN201
    return prepare_clip_voice([ClipInput(*reference_clip)])


def submit(bucket: str, voice, tmp_path: Path, *, name: str = "b", notify_url: str | None = None) -> BookPlan:  # noqa: ANN001
    path = write_epub(tmp_path / f"{name}.epub", title=f"Book {name}", author="A", chapters=CHAPTERS, cover=False)
    plan, _ = BookSubmitter.from_settings(Settings()).submit(
        read_book(str(path)), voice=voice, out=f"s3://{bucket}/{name}", notify_url=notify_url
    )
    return plan


def render_all(plan: BookPlan, ctx: BookContext) -> None:
    for message in chunk_messages(plan):
        rendered, billed = render_chunk(message, ctx=ctx)
        ctx.state.chunk_done(plan.book_id, message.chapter, message.index, rendered=rendered, billed_bytes=billed)


def chapter_key(plan: BookPlan, index: int) -> str:
    return keys.book_chapter_audio(plan.output.prefix, plan.book_id, index, plan.output.format)


def run_chapter(plan: BookPlan, index: int):  # noqa: ANN201
    return tasks.chapter.apply(args=(plan.book_id, plan.output.bucket, plan.output.prefix, index))


# --- 1. nothing paid twice ------------------------------------------------------------------------


def test_audio_s3_refused_is_held_and_stored_by_the_retry_without_calling_fish_again(
    ctx, storage, bucket, voice, tmp_path, emulator
) -> None:
    plan = submit(bucket, voice, tmp_path)
    message = chunk_messages(plan)[0]
    storage.refuse_put.add(message.key)
    with pytest.raises(StorageUnavailable):
        render_chunk(message, ctx=ctx)
    assert ctx.render.held.get(held_chunk_key(message)) is not None, "the paid-for audio waits in Redis"
    assert render_chunk(message, ctx=ctx) == (True, len(message.text.encode()))  # rendered, and billed once
    assert emulator.stats()["tts_requests"] == 1, "the retry stored the held audio instead of paying Fish again"
    assert storage.exists(bucket, message.key) and ctx.render.held.get(held_chunk_key(message)) is None
    assert render_chunk(message, ctx=ctx) == (False, 0)  # from now on it is reused like any stored chunk


# --- 2. live work keeps its book fresh ------------------------------------------------------------


class FlakyStep(BookTask):
    """A book step that fails as told, then succeeds."""

    name = "tests.book.flaky_step"
    failures_to_come: list[BaseException] = []
    calls = 0

    def unit_of(self, args, kwargs) -> BookUnit:
        return BookUnit(
            tasks.book_context().state, args[0], field="flaky", label="the flaky step", settings=get_settings()
        )

    def perform(self, unit: BookUnit) -> str:
        type(self).calls += 1
        if self.failures_to_come:
            raise self.failures_to_come.pop(0)
        return "done"


flaky_step = tasks.app.register_task(FlakyStep())


def run_step(book_id: str, *failures: BaseException, always: BaseException | None = None):  # noqa: ANN201
    FlakyStep.calls = 0
    FlakyStep.failures_to_come = list(failures) if always is None else [always] * 50
    return flaky_step.apply(args=(book_id,))


def test_a_step_in_transient_back_off_touches_its_book(ctx, sent, bucket, voice, tmp_path, redis_client) -> None:
    plan = submit(bucket, voice, tmp_path)
    long_ago = time.time() - 10_000
    redis_client.hset(keys.book_record(plan.book_id), "updated_at", long_ago)
    assert run_step(plan.book_id, StorageUnavailable("S3 is unreachable")).result == "done"
    book = ctx.state.get(plan.book_id)
    assert book["updated_at"] > long_ago + 9_000 and "retrying" in book["waiting"]


def test_the_heartbeat_moves_updated_at_while_the_body_runs_and_stops_after(ctx, bucket, voice, tmp_path) -> None:
    plan = submit(bucket, voice, tmp_path)
    seen = lambda: ctx.state.get(plan.book_id)["updated_at"]  # noqa: E731
    with book_heartbeat(ctx.state, plan.book_id, stale_seconds=0.5):  # a beat every 0.1 s
        before = seen()
        time.sleep(0.35)
        during = seen()
        time.sleep(0.35)
        later = seen()
    assert before < during < later
    time.sleep(0.3)
    assert seen() == pytest.approx(later, abs=0.15), "the heartbeat stopped with the body"
    assert not [t for t in threading.enumerate() if t.name == "narrate-book-heartbeat"]


def test_a_long_chapter_assembly_keeps_its_book_fresh(ctx, storage, sent, bucket, voice, tmp_path, monkeypatch) -> None:
    plan = submit(bucket, voice, tmp_path)
    render_all(plan, ctx)
    monkeypatch.setenv("NARRATE_RECONCILE_STALE_SECONDS", "0.5")
    get_settings.cache_clear()
    seen: list[float] = []
    storage.slow_get, storage.on_get = 0.6, lambda: seen.append(ctx.state.get(plan.book_id)["updated_at"])
    assert run_chapter(plan, 0).successful()
    # each chunk is fetched once (then spooled), two at a time; each pair of fetches sees a newer heartbeat
    assert len(seen) >= 5 and len(set(seen)) >= 3, "the book's updated_at moved while nothing else touched it"


# --- 3. duplicates do nothing twice ---------------------------------------------------------------


def test_a_chapter_already_assembled_is_not_assembled_again(ctx, storage, sent, bucket, voice, tmp_path) -> None:
    plan = submit(bucket, voice, tmp_path)
    render_all(plan, ctx)
    run_chapter(plan, 0)
    run_chapter(plan, 0)
    assert storage.uploads.count(chapter_key(plan, 0)) == 1
    assert ctx.state.get(plan.book_id)["chapters"][0]["state"] == "done" and ctx.state.chapters_done(plan.book_id) == {
        0
    }


def test_a_duplicate_book_assembly_sends_one_webhook(ctx, storage, sent, bucket, voice, tmp_path) -> None:
    plan = submit(bucket, voice, tmp_path, notify_url="http://127.0.0.1:9/hook")
    render_all(plan, ctx)
    for index in range(len(plan.chapters)):
        run_chapter(plan, index)
    assert sent["book"] == [(plan.book_id, bucket, "b")]
    for _ in range(2):
        assert tasks.assemble.apply(args=sent["book"][0]).successful()
    assert sent["notify"] == [(plan.book_id,)]
    assert storage.uploads.count(keys.book_audio("b", plan.book_id)) == 1
    assert ctx.state.state_of(plan.book_id) == "succeeded"


def test_a_book_finishes_once(ctx, bucket, voice, tmp_path) -> None:
    plan = submit(bucket, voice, tmp_path)
    assert ctx.state.finish(plan.book_id, state="succeeded", output_url="s3://x/book.m4b") is True
    assert ctx.state.finish(plan.book_id, state="succeeded", output_url="s3://x/again.m4b") is False
    assert ctx.state.finish(plan.book_id, state="failed", error="a late duplicate failed") is False
    book = ctx.state.get(plan.book_id)
    assert (book["state"], book["output_url"], book.get("error", "")) == ("succeeded", "s3://x/book.m4b", "")
    assert plan.book_id not in ctx.state.active() and book["finished_at"] > 0


# --- 4. the reconciler looks at each book's own work ----------------------------------------------


def test_a_book_with_its_chunks_in_the_queue_is_left_alone_and_a_lost_one_is_not(
    ctx, sent, bucket, voice, tmp_path, redis_client
) -> None:
    lost = submit(bucket, voice, tmp_path, name="lost")
    redis_client.delete("narrate")
    queued = submit(bucket, voice, tmp_path, name="queued")
    for plan in (lost, queued):
        redis_client.hset(keys.book_record(plan.book_id), "updated_at", time.time() - 10_000)
    assert tasks.reconcile_books.run()["chunks"] == lost.chunk_count
    assert {m.book_id for m in sent["chunk"]} == {lost.book_id} and redis_client.llen("narrate") == queued.chunk_count


def deliver_one(redis_client: redis.Redis, tag: str, *, delivered_at: float) -> None:
    """One message of the queue taken by a worker and not acknowledged, as kombu records it; the rest lost."""
    message = json.loads(redis_client.rpop("narrate"))
    redis_client.hset("unacked", tag, json.dumps([message, "", "narrate"]))
    redis_client.zadd("unacked_index", {tag: delivered_at})
    redis_client.delete("narrate")


def test_the_reconciler_resends_a_stalled_books_lost_chunks_behind_a_long_queue(
    ctx, sent, bucket, voice, tmp_path, redis_client
) -> None:
    lost = submit(bucket, voice, tmp_path, name="lost")
    redis_client.delete("narrate")  # its chunk messages are gone
    running = submit(bucket, voice, tmp_path, name="running")
    deliver_one(redis_client, "tag-running", delivered_at=time.time())  # a worker has one of its chunks right now
    abandoned = submit(bucket, voice, tmp_path, name="abandoned")
    deliver_one(redis_client, "tag-dead", delivered_at=time.time() - 10_000)  # taken by a worker that died long ago
    queued = submit(bucket, voice, tmp_path, name="queued")  # its chunks wait in the queue
    assert redis_client.llen("narrate") == queued.chunk_count
    for plan in (lost, running, abandoned, queued):
        redis_client.hset(keys.book_record(plan.book_id), "updated_at", time.time() - 10_000)  # all look stalled
    counts = tasks.reconcile_books.run()
    assert counts["books"] == 2 and counts["chunks"] == lost.chunk_count + abandoned.chunk_count
    assert {m.book_id for m in sent["chunk"]} == {lost.book_id, abandoned.book_id}
    resent = sorted((m.book_id, m.chapter, m.index) for m in sent["chunk"])
    assert resent == sorted((m.book_id, m.chapter, m.index) for m in chunk_messages(lost) + chunk_messages(abandoned))


# --- 5. every error has a class -------------------------------------------------------------------


@pytest.mark.parametrize(
    "reset",
    [StorageUnavailable("the connection was reset mid-body"), ConnectionResetError(104, "reset by peer")],
    ids=["mapped", "unmapped"],
)
def test_a_reset_mid_chapter_download_is_retried_not_failed(ctx, storage, sent, bucket, voice, tmp_path, reset) -> None:
    plan = submit(bucket, voice, tmp_path)
    render_all(plan, ctx)
    third = plan.chapters[0].chunks[2].key
    storage.refuse_get[third] = (1, reset)  # its only read: the decoding pass, with the spool half written
    assert run_chapter(plan, 0).successful()
    assert third not in storage.refuse_get, "the fault happened"
    book = ctx.state.get(plan.book_id)
    assert book["state"] != "failed", book.get("error")
    assert ctx.state.chapters_done(plan.book_id) == {0} and storage.exists(bucket, chapter_key(plan, 0))
    part = keys.book_part(plan.output.prefix, plan.book_id, 0, "aac")
    assert storage.uploads == [chapter_key(plan, 0), part], "the failed attempt uploaded nothing"
    assert storage.gets[third] == 2, "read once per attempt: the encoding pass reads the spool"


def test_unexpected_errors_are_retried_then_fail_the_book(ctx, sent, bucket, voice, tmp_path) -> None:
    plan = submit(bucket, voice, tmp_path)
    assert run_step(plan.book_id, RuntimeError("a bug, or bad luck")).result == "done"
    assert FlakyStep.calls == 2 and ctx.state.state_of(plan.book_id) != "failed"
    run_step(plan.book_id, always=RuntimeError("a bug for sure"))
    assert FlakyStep.calls == get_settings().max_attempts == 3
    book = ctx.state.get(plan.book_id)
    assert book["state"] == "failed"
    assert (
        book["error"] == "the flaky step failed 3 times (NARRATE_MAX_ATTEMPTS is 3);"
        " last error: internal error: RuntimeError: a bug for sure"
    )


@pytest.mark.parametrize(
    "lost", [redis.exceptions.ConnectionError("Connection reset by peer"), redis.exceptions.TimeoutError("timed out")]
)
def test_a_redis_connection_error_is_transient_and_bounded(ctx, sent, bucket, voice, tmp_path, lost) -> None:
    plan = submit(bucket, voice, tmp_path)
    assert run_step(plan.book_id, lost).result == "done"
    assert ctx.state.state_of(plan.book_id) != "failed"
    run_step(plan.book_id, always=lost)
    assert FlakyStep.calls == 3
    book = ctx.state.get(plan.book_id)
    assert book["state"] == "failed" and "failed 3 times" in book["error"] and "Redis unreachable" in book["error"]


# --- 6. a unit that can never succeed ends its book, counted across deliveries --------------------


class Rescheduled(BaseException):
    """What a retry would have sent, caught instead: each `run` below is one delivery of its own."""


def deliver(task, *args):  # noqa: ANN001, ANN201
    """One delivery, as the broker or the reconciler hands it out: fresh message, no count of its own."""
    try:
        return task.run(*args)
    except Rescheduled:
        return "rescheduled"


@pytest.fixture
def no_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tasks.BookTask, "_retry", lambda self, **options: Rescheduled())


def test_a_chunk_fish_never_renders_fails_its_book_after_the_bound_across_deliveries(
    ctx, sent, bucket, voice, tmp_path, emulator, no_retries
) -> None:
    plan = submit(bucket, voice, tmp_path)
    doomed, other = chunk_messages(plan)[1], chunk_messages(plan)[4]
    emulator.control(empty_audio_for="second paragraph")  # answered 200 with no audio, and billed, every time
    outcomes = [deliver(tasks.chunk, doomed.model_dump(mode="json")) for _ in range(5)]
    assert outcomes[:2] == ["rescheduled", "rescheduled"] and outcomes[2] is None, (
        "the third delivery used the last attempt"
    )
    assert emulator.stats()["tts_requests"] == 3, "NARRATE_MAX_ATTEMPTS (3) bounds what is paid, whoever sends it"
    book = ctx.state.get(plan.book_id)
    assert book["state"] == "failed"
    assert book["error"].startswith(
        'chapter 1, chunk 2 ("The second paragraph comes next.") failed 3 times (NARRATE_MAX_ATTEMPTS is 3)'
    )
    assert "no audio" in book["error"], "the last error is named"
    deliver(tasks.chunk, other.model_dump(mode="json"))
    assert emulator.stats()["tts_requests"] == 3, "the failed book's other work is not paid for"
    assert plan.book_id not in ctx.state.active(), "the reconciler no longer looks at it"


def test_a_permanent_error_names_its_unit(ctx, sent, bucket, voice, tmp_path, storage) -> None:
    plan = submit(bucket, voice, tmp_path)
    storage.delete(bucket, keys.book_plan(plan.output.prefix, plan.book_id))
    ctx.plans.clear()
    run_chapter(plan, 1)
    book = ctx.state.get(plan.book_id)
    assert book["state"] == "failed" and book["error"].startswith("chapter 2's assembly: the plan of book")


def test_waits_use_no_attempt(ctx, sent, bucket, voice, tmp_path, redis_client, no_retries, monkeypatch) -> None:
    from worker.renders.lease import RenderLeases

    monkeypatch.setattr(ctx.render, "leases", RenderLeases(redis_client))
    plan = submit(bucket, voice, tmp_path)
    message = chunk_messages(plan)[0]
    with RenderLeases(redis_client).hold(held_chunk_key(message)):
        for _ in range(5):
            assert deliver(tasks.chunk, message.model_dump(mode="json")) == "rescheduled"
    assert redis_client.hgetall(keys.book_attempts(plan.book_id)) == {}, "waiting for another delivery counts nothing"
    assert ctx.state.state_of(plan.book_id) != "failed"
    assert deliver(tasks.chunk, message.model_dump(mode="json")) is None and ctx.state.done_indexes(
        plan.book_id, 0
    ) == {0}


def test_a_crafted_step_outside_its_book_is_dropped_and_the_book_left_alone(
    ctx, sent, bucket, voice, tmp_path, emulator
) -> None:
    plan = submit(bucket, voice, tmp_path)
    message = chunk_messages(plan)[0].model_dump(mode="json")
    assert deliver(tasks.chunk, {**message, "prefix": "elsewhere"}) is None
    assert deliver(tasks.chunk, {**message, "key": "chunks/" + "0" * 64 + ".wav"}) is None, (
        "not the address of its own text"
    )
    assert tasks.chapter.run(plan.book_id, "another-bucket", plan.output.prefix, 0) is None
    assert tasks.assemble.run(plan.book_id, bucket, "../escape") is None
    assert emulator.stats()["tts_requests"] == 0 and sent == {"chunk": [], "chapter": [], "book": [], "notify": []}
    assert ctx.state.state_of(plan.book_id) == "queued", "a crafted message cannot fail someone else's book"
