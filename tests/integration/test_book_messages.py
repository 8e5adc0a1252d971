"""A book step's message cannot move its book: the record in a real Redis and the plan in a real S3 API decide."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import redis

from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.support.epubs import write_epub
from tests.unit.test_book_messages import BOOK, make_plan
from worker import keys
from worker.app import QUEUE
from worker.books.context import BookContext
from worker.books.plan import BookPlan, ChunkMessage
from worker.books.state import BookState
from worker.books.validate import (
    InvalidBookMessage,
    InvalidPlan,
    check_book_owner,
    check_book_step,
    check_chunk_in_plan,
    check_chunk_message,
)
from worker.contract import Synthesis
from worker.fish.client import FishClient
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext


@pytest.fixture
def ctx(stack_env: dict[str, str], redis_client: redis.Redis) -> BookContext:
    settings = Settings()
    render = RenderContext(settings=settings, storage=Storage(), fish=FishClient(settings))
    return BookContext(render=render, state=BookState(redis_client))


def store(plan: BookPlan, *, bucket: str, prefix: str, book_id: str = BOOK) -> None:
    data = plan.model_dump_json().encode()
    Storage().put(bucket, keys.book_plan(prefix, book_id), data, content_type="application/json")


def test_a_step_is_taken_only_at_the_bucket_and_prefix_its_book_was_submitted_to(ctx: BookContext, bucket: str) -> None:
    ctx.state.create(make_plan(bucket=bucket, prefix="shelf"), cached=0, estimated_cost_usd=0.0, notify_url=None)
    check_book_owner(ctx.state, BOOK, bucket=bucket, prefix="shelf")
    for other_bucket, other_prefix in (("other-tenant", "shelf"), (bucket, "elsewhere"), (bucket, "")):
        with pytest.raises(InvalidBookMessage, match=f"was submitted to s3://{bucket}/shelf, not "):
            check_book_owner(ctx.state, BOOK, bucket=other_bucket, prefix=other_prefix)
    with pytest.raises(InvalidBookMessage, match="has no record"):
        check_book_owner(ctx.state, "c" * 32, bucket=bucket, prefix="shelf")


def test_a_book_at_the_bucket_root_is_its_own_prefix(ctx: BookContext, bucket: str) -> None:
    ctx.state.create(make_plan(bucket=bucket, prefix=""), cached=0, estimated_cost_usd=0.0, notify_url=None)
    check_book_owner(ctx.state, BOOK, bucket=bucket, prefix="")
    with pytest.raises(InvalidBookMessage):
        check_book_owner(ctx.state, BOOK, bucket=bucket, prefix="shelf")


def test_the_plan_read_must_be_the_books_and_write_beside_itself(ctx: BookContext, bucket: str) -> None:
    # A plan placed in another folder (or bucket) that claims the book, and one that sends its outputs elsewhere.
    store(make_plan(bucket=bucket, prefix="victim"), bucket=bucket, prefix="mine")
    with pytest.raises(InvalidPlan, match="not beside it"):
        ctx.plan(bucket=bucket, prefix="mine", book_id=BOOK)
    store(make_plan(bucket=bucket, prefix="mine", book_id="c" * 32), bucket=bucket, prefix="mine")
    with pytest.raises(InvalidPlan, match="is book c{32}'s"):
        ctx.plan(bucket=bucket, prefix="mine", book_id=BOOK)
    assert ctx.plans == {}, "a refused plan is not kept"

    store(make_plan(bucket=bucket, prefix="shelf"), bucket=bucket, prefix="shelf")
    assert ctx.plan(bucket=bucket, prefix="shelf", book_id=BOOK).book_id == BOOK
    # Kept now: a message naming the same book at another place gets no copy of it.
    with pytest.raises(InvalidPlan, match="not beside it"):
        ctx.plan(bucket=bucket, prefix="mine", book_id=BOOK)
    assert ctx.plan(bucket=bucket, prefix="shelf", book_id=BOOK).book_id == BOOK


def test_the_messages_a_real_submit_puts_on_the_broker_pass_every_check(
    ctx: BookContext, bucket: str, reference_clip: tuple[Path, str], tmp_path: Path, redis_client: redis.Redis
) -> None:
    """Clips, a preset, settings and the record as the producer makes them: the checks refuse none of its own
    messages."""
    chapters = [("One", ["The first paragraph.", "The second paragraph."]), ("Two", ["Only one paragraph here."])]
    path = write_epub(tmp_path / "book.epub", title="Checked", author="A", chapters=chapters, cover=True)
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    plan, _ = BookSubmitter.from_settings(Settings()).submit(
        read_book(str(path)), voice=voice, out=f"s3://{bucket}/shelf", preset="acx", synthesis=Synthesis(speed=1.1)
    )
    bodies = [json.loads(base64.b64decode(json.loads(raw)["body"])) for raw in redis_client.lrange(QUEUE, 0, -1)]
    chunks = [ChunkMessage.model_validate(args[0]) for args, _, _ in bodies]
    assert len(chunks) == plan.chunk_count
    stored = ctx.plan(bucket=bucket, prefix="shelf", book_id=plan.book_id)
    for chunk in chunks:
        check_chunk_message(chunk, model=ctx.render.fish.model, max_text_bytes=ctx.render.settings.max_text_bytes)
        check_book_owner(ctx.state, chunk.book_id, bucket=chunk.bucket, prefix=chunk.prefix)
        check_chunk_in_plan(chunk, stored)
    check_book_step(plan.book_id, bucket=bucket, prefix="shelf", chapter=len(plan.chapters) - 1)
