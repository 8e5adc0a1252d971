"""Audiobook steps under faults and duplicates, in-process: real Redis, real S3 API, the Fish emulator.

Tasks run eagerly (`task.apply()`: a retry runs again at once, with the counts
it carries); what they would send to the broker is recorded instead. Errors and
units that can never succeed: test_book_faults_errors.py.
"""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis

from tests.support.book_faults import chapter_key, render_all, run_chapter, run_step, submit
from worker import keys
from worker.books import tasks
from worker.books.chunk import held_chunk_key, render_chunk
from worker.books.heartbeat import book_heartbeat
from worker.books.plan import chunk_messages
from worker.errors import StorageUnavailable
from worker.settings import get_settings

# --- 1. nothing paid twice ------------------------------------------------------------------------


def test_audio_s3_refused_is_held_and_stored_by_the_retry_without_calling_fish_again(
    ctx, storage, bucket, voice, tmp_path, emulator
) -> None:
    plan = submit(bucket, voice, tmp_path)
    message = chunk_messages(plan)[0]
    storage.refuse_put.add(message.key)
    with pytest.raises(StorageUnavailable):
        render_chunk(message, plan, ctx=ctx)
    assert ctx.render.held.get(held_chunk_key(message)) is not None, "the paid-for audio waits in Redis"
    done = render_chunk(message, plan, ctx=ctx)
    assert (done.rendered, done.billed_bytes) == (True, len(message.text.encode()))  # rendered, and billed once
    assert emulator.stats()["tts_requests"] == 1, "the retry stored the held audio instead of paying Fish again"
    assert storage.exists(bucket, message.key) and ctx.render.held.get(held_chunk_key(message)) is None
    again = render_chunk(message, plan, ctx=ctx)
    assert (again.rendered, again.billed_bytes) == (False, 0)  # from now on it is reused like any stored chunk


# --- 2. live work keeps its book fresh ------------------------------------------------------------


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
