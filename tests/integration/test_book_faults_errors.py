"""Audiobook steps' errors, in-process: every error has a class, and a unit that can never succeed ends its book,
counted across deliveries (real Redis, real S3 API, the Fish emulator; what the tasks would send is recorded)."""

from __future__ import annotations

import pytest
import redis

from tests.support.book_faults import FlakyStep, chapter_key, render_all, run_chapter, run_step, submit
from worker import keys
from worker.books import tasks
from worker.books.chunk import held_chunk_key
from worker.books.plan import chunk_messages
from worker.errors import StorageUnavailable
from worker.settings import get_settings

# --- 1. every error has a class -------------------------------------------------------------------


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


# --- 2. a unit that can never succeed ends its book, counted across deliveries --------------------


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
