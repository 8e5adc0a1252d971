"""Rescue audiobooks that stopped moving: re-send what is missing, never what is done.

Run periodically (Celery beat). A book whose progress stalled for longer than
the stale limit, and that has no message waiting or running anywhere, gets its
missing chunks re-enqueued, or the assembly that should have followed. A long
queue of other books' work does not hide it. Everything re-sent is idempotent,
so a false alarm costs a few S3 lookups, not a second Fish call.

Each book is looked at on its own: one whose plan is gone, unreadable (bucket
deleted, access denied) or no longer valid ends `failed` saying so; one S3
cannot answer for now waits for the next run; the other books go on either way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

import redis
from pydantic import ValidationError

from worker import keys
from worker.books.context import BookContext
from worker.books.plan import BookPlan, ChunkMessage, chunk_messages
from worker.errors import PermanentError, StorageRejected, TransientError

log = logging.getLogger("narrate.books")
COUNTS = ("books", "chunks", "chapters", "assemblies", "failed", "skipped")


@dataclass
class Enqueue:
    chunk: Callable[[ChunkMessage], None]
    chapter: Callable[[str, str, str, int], None]  # book_id, bucket, prefix, chapter
    book: Callable[[str, str, str], None]  # book_id, bucket, prefix


def reconcile(
    *, ctx: BookContext, enqueue: Enqueue, stale_seconds: float, busy: Collection[str] = ()
) -> dict[str, int]:
    """`busy`: books with a message in a queue or held by a live worker (worker.infra.broker.in_flight). A quiet
    busy book is waiting its turn, not stuck, and re-sending its work would only duplicate it.

    Counts: `books` re-sent work, `failed` ended for good (their plan is lost), `skipped` left for the next run."""
    counts = dict.fromkeys(COUNTS, 0)
    now = time.time()
    for book_id in ctx.state.active():
        if book_id in busy:
            continue
        book = ctx.state.get(book_id)
        if (
            book is None
            or now - float(book.get("updated_at", 0)) < stale_seconds
            or book.get("state") in ("succeeded", "failed")
        ):
            continue
        try:
            _resend(book_id, bucket=book["bucket"], prefix=book["prefix"], ctx=ctx, enqueue=enqueue, counts=counts)
        except PermanentError as exc:
            if ctx.state.finish(book_id, state="failed", error=str(exc)):
                counts["failed"] += 1
                log.error("book %s failed: %s", book_id, exc)
        except (redis.ConnectionError, redis.TimeoutError):
            raise  # every book's state is in Redis: this run is over, the next one starts again
        except TransientError as exc:
            counts["skipped"] += 1
            log.warning("book %s left for the reconciler's next run: %s", book_id, exc)
        except Exception:  # most likely a bug: it must not keep the other books from being rescued
            counts["skipped"] += 1
            log.exception("book %s left for the reconciler's next run after an unexpected error", book_id)
        else:
            counts["books"] += 1
            ctx.state.set_book(book_id)  # touch: the next run waits a full stale period again
    return counts


def _resend(
    book_id: str, *, bucket: str, prefix: str, ctx: BookContext, enqueue: Enqueue, counts: dict[str, int]
) -> None:
    plan = _fresh_plan(ctx, bucket=bucket, prefix=prefix, book_id=book_id)
    finished_chapters = ctx.state.chapters_done(book_id)
    for chapter in plan.chapters:
        if chapter.index in finished_chapters:
            continue
        done = ctx.state.done_indexes(book_id, chapter.index)
        if len(done) == len(chapter.chunks):
            # All counted done, yet the chapter never finished: a chunk's audio may have been lost.
            for chunk in chapter.chunks:
                if not ctx.render.storage.exists(bucket, chunk.key) and ctx.state.chunk_lost(
                    book_id, chapter.index, chunk.index
                ):
                    done.discard(chunk.index)
        missing = [m for m in chunk_messages(plan) if m.chapter == chapter.index and m.index not in done]
        for message in missing:
            enqueue.chunk(message)
        counts["chunks"] += len(missing)
        if not missing:
            enqueue.chapter(book_id, bucket, prefix, chapter.index)
            counts["chapters"] += 1
    if len(finished_chapters) == len(plan.chapters):
        enqueue.book(book_id, bucket, prefix)
        counts["assemblies"] += 1


def _fresh_plan(ctx: BookContext, *, bucket: str, prefix: str, book_id: str) -> BookPlan:
    """The plan as S3 holds it now (a stalled book's plan may have been deleted or changed since it was kept)."""
    where = f"s3://{bucket}/{keys.book_plan(prefix, book_id)}"
    ctx.plans.pop(book_id, None)
    try:
        return ctx.plan(bucket=bucket, prefix=prefix, book_id=book_id)
    except ValidationError as exc:
        first = exc.errors()[0]
        problem = f"{'.'.join(str(p) for p in first['loc']) or 'the file'}: {first['msg']}"
        raise PermanentError(
            f"its plan {where} no longer validates ({exc.error_count()} problem(s), first {problem}):"
            " it was changed after submit; submit the book again"
        ) from exc
    except StorageRejected as exc:  # the bucket is gone, or no longer ours to read
        raise PermanentError(
            f"the reconciler cannot read its plan: {exc}; once that is fixed, submit the book again"
        ) from exc
    except PermanentError as exc:  # no such object
        raise PermanentError(f"{exc}: put it back, or submit the book again") from exc


def resend_book(book_id: str, *, ctx: BookContext, enqueue: Enqueue) -> dict[str, int]:
    """Re-send one book's missing work now, whatever its age (`narrate retry BOOK_ID`)."""
    book = ctx.state.get(book_id) or {}
    counts = dict.fromkeys(COUNTS, 0)
    _resend(book_id, bucket=book["bucket"], prefix=book["prefix"], ctx=ctx, enqueue=enqueue, counts=counts)
    ctx.state.set_book(book_id)
    return counts
