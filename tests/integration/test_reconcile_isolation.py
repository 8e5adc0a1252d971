"""The reconciler takes each book on its own: one bad book ends `failed` or waits, and every other is still rescued.

Real Redis and a real S3 API; what S3 would answer for a bucket that denies us or cannot be reached comes from
botocore's own event hooks, so the storage layer maps real client errors.
"""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import botocore.exceptions
import pytest
import redis

from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.support.broker_reads import broker_reads
from tests.support.epubs import write_epub
from worker import keys
from worker.books import tasks
from worker.books.context import BookContext
from worker.books.plan import BookPlan, ChunkMessage, chunk_messages
from worker.books.reconcile import Enqueue, reconcile
from worker.books.state import BookState
from worker.fish.client import FishClient
from worker.renders.held import HeldRenders
from worker.settings import Settings, get_settings
from worker.storage import Storage, make_client
from worker.voices.speaker import RenderContext

CHAPTERS = [("One", ["The first paragraph.", "The second paragraph."]), ("Two", ["Only one paragraph here."])]


class S3Trouble:
    """Buckets S3 answers for as if access were denied, or as if it could not be reached (botocore's before-call
    hook)."""

    def __init__(self) -> None:
        self.denied: set[str] = set()
        self.unreachable: set[str] = set()

    def __call__(self, params: dict[str, Any], **_: Any) -> tuple[Any, dict] | None:
        bucket = params["url"].split("/")[3]
        if bucket in self.unreachable:
            raise botocore.exceptions.EndpointConnectionError(endpoint_url=params["url"])
        if bucket in self.denied:
            return SimpleNamespace(status_code=403, headers={}), {
                "Error": {"Code": "AccessDenied", "Message": "Access Denied"},
                "ResponseMetadata": {"HTTPStatusCode": 403},
            }
        return None


@pytest.fixture
def trouble() -> S3Trouble:
    return S3Trouble()


@pytest.fixture
def ctx(stack_env, redis_client: redis.Redis, trouble: S3Trouble, monkeypatch: pytest.MonkeyPatch) -> BookContext:
    monkeypatch.setenv("NARRATE_PROMOTE_AFTER", "off")
    get_settings.cache_clear()
    client = make_client()
    client.meta.events.register("before-call.s3", trouble)
    settings = Settings()
    render = RenderContext(
        settings=settings, storage=Storage(client), fish=FishClient(settings), held=HeldRenders(redis_client)
    )
    return BookContext(render=render, state=BookState(redis_client))


@pytest.fixture
def voice(reference_clip):  # noqa: ANN201
    return prepare_clip_voice([ClipInput(*reference_clip)])


def stalled_book(
    bucket: str, voice, tmp_path: Path, redis_client: redis.Redis, *, name: str, lost: bool = True
) -> BookPlan:  # noqa: ANN001
    """A book submitted, its chunk messages lost (or waiting in the queue), and no progress for a long time."""
    path = write_epub(tmp_path / f"{name}.epub", title=f"Book {name}", author="A", chapters=CHAPTERS, cover=False)
    plan, _ = BookSubmitter.from_settings(Settings()).submit(
        read_book(str(path)), voice=voice, out=f"s3://{bucket}/{name}"
    )
    if lost:
        redis_client.delete("narrate")
    redis_client.hset(keys.book_record(plan.book_id), "updated_at", time.time() - 10_000)
    return plan


def run(ctx: BookContext) -> tuple[dict[str, int], list[ChunkMessage]]:
    sent: list[ChunkMessage] = []
    enqueue = Enqueue(chunk=sent.append, chapter=lambda *_: None, book=lambda *_: None)
    return reconcile(ctx=ctx, enqueue=enqueue, stale_seconds=300), sent


def other_bucket(stack_env) -> str:  # noqa: ANN001
    name = f"test-{time.time_ns():x}"
    Storage().create_bucket(name)
    return name


def test_books_whose_plan_is_lost_fail_saying_why_and_the_others_are_still_rescued(
    ctx, trouble, bucket, voice, tmp_path, redis_client, stack_env
) -> None:
    first = stalled_book(bucket, voice, tmp_path, redis_client, name="first")
    vanished = stalled_book(bucket, voice, tmp_path, redis_client, name="vanished")
    Storage().delete(bucket, keys.book_plan(vanished.output.prefix, vanished.book_id))
    edited = stalled_book(bucket, voice, tmp_path, redis_client, name="edited")
    Storage().put(
        bucket,
        keys.book_plan(edited.output.prefix, edited.book_id),
        b'{"title": "hand-edited"}',
        content_type="application/json",
    )
    gone = stalled_book(other_bucket(stack_env), voice, tmp_path, redis_client, name="gone")
    s3 = make_client()
    for key, _ in Storage().list(gone.output.bucket, ""):
        s3.delete_object(Bucket=gone.output.bucket, Key=key)
    s3.delete_bucket(Bucket=gone.output.bucket)
    denied = stalled_book(other_bucket(stack_env), voice, tmp_path, redis_client, name="denied")
    trouble.denied.add(denied.output.bucket)
    last = stalled_book(bucket, voice, tmp_path, redis_client, name="last")

    counts, sent = run(ctx)

    assert counts["failed"] == 4 and counts["books"] == 2 and counts["skipped"] == 0
    resent = sorted((m.book_id, m.chapter, m.index) for m in sent)
    assert resent == sorted((m.book_id, m.chapter, m.index) for m in chunk_messages(first) + chunk_messages(last))
    errors = {}
    for plan in (vanished, edited, gone, denied):
        record = ctx.state.get(plan.book_id)
        assert record is not None and record["state"] == "failed" and plan.book_id not in ctx.state.active()
        errors[plan.book_id] = record["error"]
    plan_key = keys.book_plan(vanished.output.prefix, vanished.book_id)
    assert (
        f"missing at s3://{bucket}/{plan_key}" in errors[vanished.book_id]
        and "submit the book again" in errors[vanished.book_id]
    )
    assert "no longer validates" in errors[edited.book_id] and "submit the book again" in errors[edited.book_id]
    assert "bucket does not exist" in errors[gone.book_id]
    assert "access denied: check the AWS credentials and the bucket policy" in errors[denied.book_id]
    assert {ctx.state.state_of(p.book_id) for p in (first, last)} == {"queued"}, "the rescued books go on"


def test_a_book_s3_cannot_reach_for_now_waits_for_the_next_run_and_the_others_are_rescued(
    ctx, trouble, bucket, voice, tmp_path, redis_client, stack_env
) -> None:
    unreachable = stalled_book(other_bucket(stack_env), voice, tmp_path, redis_client, name="unreachable")
    trouble.unreachable.add(unreachable.output.bucket)
    other = stalled_book(bucket, voice, tmp_path, redis_client, name="other")
    counts, sent = run(ctx)
    assert counts["skipped"] == 1 and counts["failed"] == 0 and counts["books"] == 1
    assert {m.book_id for m in sent} == {other.book_id}
    assert unreachable.book_id in ctx.state.active() and ctx.state.state_of(unreachable.book_id) == "queued"
    trouble.unreachable.clear()  # S3 is back: the next run rescues it
    redis_client.hset(keys.book_record(other.book_id), "updated_at", time.time())
    counts, sent = run(ctx)
    assert counts["books"] == 1 and {m.book_id for m in sent} == {unreachable.book_id}


def test_a_book_whose_record_is_unreadable_is_left_and_the_others_are_rescued(
    ctx, bucket, voice, tmp_path, redis_client
) -> None:
    broken = stalled_book(bucket, voice, tmp_path, redis_client, name="broken")
    redis_client.hdel(keys.book_record(broken.book_id), "prefix")  # a record no code of ours writes: a bug somewhere
    other = stalled_book(bucket, voice, tmp_path, redis_client, name="other")
    counts, sent = run(ctx)
    assert counts["skipped"] == 1 and counts["books"] == 1 and {m.book_id for m in sent} == {other.book_id}
    assert ctx.state.state_of(broken.book_id) == "queued", "a bug of ours is no reason to fail a customer's book"


def reconciler_reads(ctx: BookContext, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    monkeypatch.setattr(tasks, "book_context", lambda: ctx)
    monkeypatch.setattr(tasks, "enqueue_chunk", lambda message: None)
    redis_client.config_resetstat()
    tasks.reconcile_books.run()
    return broker_reads(redis_client)


def test_the_reconciler_reads_the_queues_once_whatever_the_number_of_waiting_books(
    ctx, bucket, voice, tmp_path, redis_client, monkeypatch
) -> None:
    stalled_book(bucket, voice, tmp_path, redis_client, name="lost")
    stalled_book(bucket, voice, tmp_path, redis_client, name="waiting-0", lost=False)
    few = reconciler_reads(ctx, redis_client, monkeypatch)
    for n in range(1, 6):
        stalled_book(bucket, voice, tmp_path, redis_client, name=f"waiting-{n}", lost=False)
    assert reconciler_reads(ctx, redis_client, monkeypatch) == few, "the broker's reads grow with the number of books"
