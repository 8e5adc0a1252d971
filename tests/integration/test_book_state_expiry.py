"""A finished book's Redis keys expire together and leave the active set; a retry reopens it for good (real Redis)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import redis

from worker import keys
from worker.books.plan import BookPlan, PlanChapter, PlanChunk
from worker.books.state import BookState
from worker.contract import ModelVoice, Output

TTL = 600


def make_plan(book_id: str = "b" * 32, *, chapters: int = 2) -> BookPlan:
    def chapter(index: int) -> PlanChapter:
        chunks = [
            PlanChunk(index=i, text=f"Chunk {i}.", key=f"chunks/{index}-{i}.wav", paragraph_start=True)
            for i in range(2)
        ]
        return PlanChapter(index=index, title=f"Chapter {index}", chunks=chunks)

    return BookPlan(
        book_id=book_id,
        title="T",
        voice=ModelVoice(reference_id="m1"),
        output=Output(bucket="books"),
        fish_model="s2-pro",
        submitted_at=datetime.now(UTC),
        chapters=[chapter(i) for i in range(chapters)],
    )


@pytest.fixture
def state(redis_client: redis.Redis) -> BookState:
    return BookState(redis_client, ttl_seconds=TTL)


def book_keys(client: redis.Redis, book_id: str) -> dict[str, int]:
    """Every key of the book, with its TTL in seconds (-1: kept for good)."""
    return {k.decode(): client.ttl(k) for k in client.scan_iter(match=f"{keys.book_record(book_id)}*")}


def half_done(state: BookState, plan: BookPlan) -> None:
    """Chapter 0 done and counted; chapter 1 has one chunk done: every kind of key the book has."""
    for index in (0, 1):
        state.chunk_done(plan.book_id, 0, index, rendered=True, billed_bytes=9)
    state.chapter_done(plan.book_id, 0, duration_seconds=1.0)
    state.chunk_done(plan.book_id, 1, 0, rendered=True, billed_bytes=9)


@pytest.mark.parametrize("final", ["succeeded", "failed"])
def test_a_finished_book_expires_whole_and_leaves_the_active_set(
    state: BookState, redis_client: redis.Redis, final: str
) -> None:
    plan = make_plan()
    state.create(plan, cached=0, estimated_cost_usd=0.0, notify_url=None)
    half_done(state, plan)
    redis_client.hincrby(keys.book_attempts(plan.book_id), "chunk:1.1:failures", 1)  # the failure policy's counts
    assert set(book_keys(redis_client, plan.book_id).values()) == {-1}, "a rendering book is kept for good"
    assert state.finish(plan.book_id, state=final, error="why" if final == "failed" else "")
    ttls = book_keys(redis_client, plan.book_id)
    expected = {
        keys.book_record(plan.book_id),
        keys.book_chapters_done(plan.book_id),
        keys.book_attempts(plan.book_id),
        *(keys.book_chapter(plan.book_id, i) for i in range(2)),
        *(keys.book_chapter_chunks_done(plan.book_id, i) for i in range(2)),
    }
    assert set(ttls) == expected
    assert all(0 < ttl <= TTL for ttl in ttls.values()), ttls
    assert plan.book_id not in state.active()
    assert not state.finish(plan.book_id, state="failed", error="again"), "a book finishes once"
    assert state.get(plan.book_id)["state"] == final


def test_late_writes_to_a_finished_book_expire_with_it(state: BookState, redis_client: redis.Redis) -> None:
    plan = make_plan()
    state.create(plan, cached=0, estimated_cost_usd=0.0, notify_url=None)
    state.finish(plan.book_id, state="failed", error="chunk 1.0 could not be rendered")
    # A redelivered chunk and chapter after the failure make keys the book did not have yet: they take its expiry.
    state.chunk_done(plan.book_id, 1, 1, rendered=False, billed_bytes=0)
    state.chapter_done(plan.book_id, 1, duration_seconds=1.0)
    state.set_book(plan.book_id, notify_status="delivered")
    state.touch(plan.book_id)
    ttls = book_keys(redis_client, plan.book_id)
    assert keys.book_chapter_chunks_done(plan.book_id, 1) in ttls and keys.book_chapters_done(plan.book_id) in ttls
    assert all(0 < ttl <= TTL for ttl in ttls.values()), ttls


def test_a_forgotten_book_is_not_written_back(state: BookState, redis_client: redis.Redis) -> None:
    """Once its keys have expired, late deliveries and a second finish leave nothing behind."""
    plan = make_plan()
    state.create(plan, cached=0, estimated_cost_usd=0.0, notify_url=None)
    state.finish(plan.book_id, state="succeeded")
    for key in book_keys(redis_client, plan.book_id):
        redis_client.delete(key)  # what the TTL does, without waiting for it
    assert state.chunk_done(plan.book_id, 0, 0, rendered=True, billed_bytes=9) is False
    assert state.chapter_done(plan.book_id, 0, duration_seconds=1.0) is False
    state.set_book(plan.book_id, notify_status="delivered")
    state.set_chapter(plan.book_id, 0, state="assembling")
    state.touch(plan.book_id)
    assert not state.finish(plan.book_id, state="failed", error="late")
    assert not state.reopen(plan.book_id), "an expired book cannot be retried"
    assert book_keys(redis_client, plan.book_id) == {}
    assert plan.book_id not in state.active()


def test_reopen_puts_a_failed_book_back_to_rendering_for_good(state: BookState, redis_client: redis.Redis) -> None:
    plan = make_plan()
    state.create(plan, cached=0, estimated_cost_usd=0.0, notify_url=None)
    half_done(state, plan)
    assert not state.reopen(plan.book_id), "a rendering book has nothing to reopen"
    redis_client.hincrby(keys.book_attempts(plan.book_id), "chunk:1.1:failures", 6)
    state.finish(plan.book_id, state="failed", error="chapter 2, chunk 1: Fish answered 500 five times")
    assert state.reopen(plan.book_id)
    book = state.get(plan.book_id)
    assert book["state"] == "rendering" and book["error"] == "" and "finished_at" not in book
    assert set(book_keys(redis_client, plan.book_id).values()) == {-1}, "every key is kept for good again"
    assert plan.book_id in state.active()
    # What was done stays done: the retry starts from what is stored.
    assert state.chapters_done(plan.book_id) == {0} and state.done_indexes(plan.book_id, 1) == {0}
    assert book["chunks_done"] == 3
    assert not state.reopen(plan.book_id), "reopened once"
    assert state.finish(plan.book_id, state="succeeded"), "and it can finish again"
