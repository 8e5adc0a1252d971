"""Rescue audiobooks that stopped moving: re-send what is missing, never what is done.

Run periodically (Celery beat). A book whose progress stalled for longer than
the stale limit, and that has no message waiting or running anywhere, gets its
missing chunks re-enqueued, or the assembly that should have followed. A long
queue of other books' work does not hide it. Everything re-sent is idempotent,
so a false alarm costs a few S3 lookups, not a second Fish call.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from worker.books.plan import ChunkMessage, chunk_messages
from worker.books.render import BookContext


@dataclass
class Enqueue:
    chunk: Callable[[ChunkMessage], None]
    chapter: Callable[[str, str, str, int], None]  # book_id, bucket, prefix, chapter
    book: Callable[[str, str, str], None]  # book_id, bucket, prefix


def reconcile(*, ctx: BookContext, enqueue: Enqueue, stale_seconds: float, busy: Collection[str] = ()) -> dict[str, int]:
    """`busy`: books with a message in a queue or held by a live worker (worker.broker.in_flight). A quiet
    busy book is waiting its turn, not stuck, and re-sending its work would only duplicate it."""
    counts = {"books": 0, "chunks": 0, "chapters": 0, "assemblies": 0}
    now = time.time()
    for book_id in ctx.state.active():
        if book_id in busy:
            continue
        book = ctx.state.get(book_id)
        if book is None or now - float(book.get("updated_at", 0)) < stale_seconds or book.get("state") in ("succeeded", "failed"):
            continue
        counts["books"] += 1
        bucket, prefix = book["bucket"], book["prefix"]
        plan = ctx.plan(bucket=bucket, prefix=prefix, book_id=book_id)
        finished_chapters = ctx.state.chapters_done(book_id)
        for chapter in plan.chapters:
            if chapter.index in finished_chapters:
                continue
            done = ctx.state.done_indexes(book_id, chapter.index)
            if len(done) == len(chapter.chunks):
                # All counted done, yet the chapter never finished: a chunk's audio may have been lost.
                for chunk in chapter.chunks:
                    if not ctx.render.storage.exists(bucket, chunk.key) and ctx.state.chunk_lost(book_id, chapter.index, chunk.index):
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
        ctx.state.set_book(book_id)  # touch: the next run waits a full stale period again
    return counts
