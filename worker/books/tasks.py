"""Thin Celery tasks for audiobooks: chunk → chapter → book → notify, plus the reconciler."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

from celery import Task, signals
from pydantic import ValidationError

from worker import keys
from worker.app import app
from worker.books.book import assemble_book
from worker.books.chapter import assemble_chapter
from worker.books.chunk import held_chunk_key, render_chunk
from worker.books.heartbeat import book_heartbeat
from worker.books.plan import ChunkMessage
from worker.books.reconcile import Enqueue, reconcile
from worker.books.runtime import book_context
from worker.books.spool import sweep_at_start
from worker.books.units import AssemblyUnit, ChapterUnit, ChunkUnit, NotifyUnit
from worker.books.validate import (
    InvalidBookMessage,
    check_book_owner,
    check_book_step,
    check_chunk_in_plan,
    check_chunk_message,
)
from worker.contract import (
    ASSEMBLY_QUEUE,
    BOOK_ASSEMBLE_TASK,
    BOOK_CHAPTER_TASK,
    BOOK_CHUNK_TASK,
    BOOK_NOTIFY_TASK,
    BOOK_RECONCILE_TASK,
    QUEUE,
)
from worker.infra.broker import in_flight
from worker.observability import metrics
from worker.observability.events import event
from worker.policy.task import PolicyTask
from worker.settings import get_settings
from worker.webhooks.outcome import deliver

log = logging.getLogger("narrate.books")


class BookTask(PolicyTask):
    """A step of a book: the failure policy ends the whole book, naming the step, once a unit runs out of attempts."""

    abstract = True

    def leases(self) -> Any:
        return book_context().render.leases

    def inside_its_book(self, book_id: Any, *, bucket: Any, prefix: Any, chapter: Any = None) -> bool:
        """A step names a book Redis holds, at the bucket and prefix it was submitted to; a crafted one is dropped."""
        try:
            check_book_step(book_id, bucket=bucket, prefix=prefix, chapter=chapter)
            check_book_owner(book_context().state, book_id, bucket=bucket, prefix=prefix)
        except InvalidBookMessage as exc:
            log.error("refused a %s message: %s", self.name, exc)
            return False
        return True


class ChunkTask(BookTask):
    name = BOOK_CHUNK_TASK

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ChunkUnit | None:
        message = args[0] if args else kwargs.get("message")
        try:
            chunk = ChunkMessage.model_validate(message)
        except ValidationError as exc:
            log.error("refused a malformed %s message: %s", self.name, exc.errors()[:3])
            return None
        ctx, settings = book_context(), get_settings()
        try:
            check_chunk_message(chunk, model=ctx.render.fish.model, max_text_bytes=settings.max_text_bytes)
            check_book_owner(ctx.state, chunk.book_id, bucket=chunk.bucket, prefix=chunk.prefix)
        except InvalidBookMessage as exc:  # dropped, never failing the book it names: that book may be someone else's
            log.error("refused a %s message: %s", self.name, exc)
            return None
        unit = ChunkUnit(ctx.state, chunk, settings=settings)
        unit.lease = held_chunk_key(chunk)
        return unit

    def perform(self, unit: ChunkUnit) -> None:
        chunk, ctx = unit.chunk, book_context()
        try:
            plan = ctx.plan(bucket=chunk.bucket, prefix=chunk.prefix, book_id=chunk.book_id)
            check_chunk_in_plan(chunk, plan)
        except InvalidBookMessage as exc:
            log.error("refused a %s message: %s", self.name, exc)
            return
        # One delivery renders a chunk at a time: a copy handed out again after a connection loss waits.
        with ctx.render.leases.hold(held_chunk_key(chunk)) if ctx.render.leases else contextlib.nullcontext():
            done = render_chunk(chunk, plan, ctx=ctx)
        rendered, billed = done.rendered, done.billed_bytes
        if done.qc is not None:  # read by the chapter's assembly, which places it in the chapter file
            ctx.state.chunk_heard(chunk.book_id, chunk.chapter, chunk.index, done.qc)
        metrics.CHUNKS.labels(state="rendered" if rendered else "reused").inc()
        event(
            log,
            logging.INFO,
            "book %s: chunk %d.%d %s",
            chunk.book_id,
            chunk.chapter,
            chunk.index,
            "rendered" if rendered else "reused",
            book_id=chunk.book_id,
            chapter=chunk.chapter,
            chunk=chunk.index,
            state="rendered" if rendered else "reused",
            text_bytes=billed,
        )
        if ctx.state.chunk_done(chunk.book_id, chunk.chapter, chunk.index, rendered=rendered, billed_bytes=billed):
            enqueue_chapter(chunk.book_id, chunk.bucket, chunk.prefix, chunk.chapter)


# Assembly streams a whole chapter or book: allow it most of the visibility timeout, not a render's limit.
_ASSEMBLY_LIMITS = {
    "soft_time_limit": int(get_settings().visibility_timeout * 0.8),
    "time_limit": int(get_settings().visibility_timeout * 0.9),
}


class ChapterTask(BookTask):
    name = BOOK_CHAPTER_TASK
    soft_time_limit = _ASSEMBLY_LIMITS["soft_time_limit"]
    time_limit = _ASSEMBLY_LIMITS["time_limit"]

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ChapterUnit | None:
        book_id, bucket, prefix, chapter = _book_args(args, kwargs, ("book_id", "bucket", "prefix", "chapter"))
        if not self.inside_its_book(book_id, bucket=bucket, prefix=prefix, chapter=chapter):
            return None
        return ChapterUnit(
            book_context().state, book_id, bucket=bucket, prefix=prefix, chapter=int(chapter), settings=get_settings()
        )

    def perform(self, unit: ChapterUnit) -> None:
        book_id, bucket, prefix, chapter = unit.book_id, unit.bucket, unit.prefix, unit.chapter
        ctx = book_context()
        if chapter in ctx.state.chapters_done(book_id):
            return  # delivered again, or sent by the reconciler after all: its file is made and counted
        ctx.state.set_chapter(book_id, chapter, state="assembling")
        started = time.perf_counter()
        with book_heartbeat(ctx.state, book_id, stale_seconds=get_settings().reconcile_stale_seconds):
            fields = assemble_chapter(ctx.plan(bucket=bucket, prefix=prefix, book_id=book_id), chapter, ctx=ctx)
        seconds = time.perf_counter() - started
        metrics.ASSEMBLY_SECONDS.labels(kind="chapter").observe(seconds)
        event(
            log,
            logging.INFO,
            "book %s: chapter %d assembled in %.1fs",
            book_id,
            chapter,
            seconds,
            book_id=book_id,
            chapter=chapter,
            seconds=round(seconds, 3),
            audio_seconds=fields.get("duration_seconds"),
        )
        if ctx.state.chapter_done(book_id, chapter, **fields):
            enqueue_book(book_id, bucket, prefix)


class AssembleTask(BookTask):
    name = BOOK_ASSEMBLE_TASK
    soft_time_limit = _ASSEMBLY_LIMITS["soft_time_limit"]
    time_limit = _ASSEMBLY_LIMITS["time_limit"]

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> AssemblyUnit | None:
        book_id, bucket, prefix = _book_args(args, kwargs, ("book_id", "bucket", "prefix"))
        if not self.inside_its_book(book_id, bucket=bucket, prefix=prefix):
            return None
        return AssemblyUnit(book_context().state, book_id, bucket=bucket, prefix=prefix, settings=get_settings())

    def perform(self, unit: AssemblyUnit) -> None:
        book_id, bucket, prefix = unit.book_id, unit.bucket, unit.prefix
        ctx = book_context()
        ctx.state.set_book(book_id, state="assembling")
        started = time.perf_counter()
        with book_heartbeat(ctx.state, book_id, stale_seconds=get_settings().reconcile_stale_seconds):
            manifest = assemble_book(ctx.plan(bucket=bucket, prefix=prefix, book_id=book_id), ctx=ctx)
        seconds = time.perf_counter() - started
        metrics.ASSEMBLY_SECONDS.labels(kind="book").observe(seconds)
        finished = ctx.state.finish(
            book_id,
            state="succeeded",
            output_url=manifest["outputs"]["m4b"],
            error="",
            manifest_url=keys.s3_url(bucket, keys.book_manifest(prefix, book_id)),
            read_along_url=manifest["outputs"].get("read_along") or "",
        )
        if not finished:
            return  # a duplicate assembly finished it first, and sent its webhook
        event(
            log,
            logging.INFO,
            "book %s finished: %s",
            book_id,
            manifest["outputs"]["m4b"],
            book_id=book_id,
            seconds=round(seconds, 3),
            chunks=manifest["chunks"]["total"],
            text_bytes=manifest["bytes_billed"],
        )
        if (ctx.state.get(book_id) or {}).get("notify_url"):
            notify.apply_async((book_id,), queue=ASSEMBLY_QUEUE)


class NotifyTask(PolicyTask):
    name = BOOK_NOTIFY_TASK

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> NotifyUnit | None:
        (book_id,) = _book_args(args, kwargs, ("book_id",))
        return NotifyUnit(book_context().state, book_id, settings=get_settings())

    def perform(self, unit: NotifyUnit) -> None:
        book = unit.state.get(unit.book_id) or {}
        if not book.get("notify_url"):
            return
        payload = {
            "event": "book.finished",
            "book_id": unit.book_id,
            "state": book.get("state"),
            "title": book.get("title"),
            "m4b_url": book.get("output_url"),
            "manifest_url": book.get("manifest_url"),
            "error": book.get("error") or None,
            "chunks_rendered": book.get("chunks_rendered"),
            "chunks_reused": book.get("chunks_reused"),
            "bytes_billed": book.get("bytes_billed"),
        }
        deliver(unit, book["notify_url"], payload)


def _book_args(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]) -> tuple[Any, ...]:
    """A book step's arguments, positional or by name (the counts a retry adds are the policy's)."""
    return tuple(args[i] if i < len(args) else kwargs[name] for i, name in enumerate(names))


class ReconcileTask(Task):
    name = BOOK_RECONCILE_TASK

    def run(self) -> dict[str, int]:
        ctx = book_context()
        stale_seconds = get_settings().reconcile_stale_seconds
        # Live work keeps its book fresh, so a quiet book's delivery older than the stale limit is a dead worker's.
        busy = in_flight(
            ctx.state.client, (QUEUE, ASSEMBLY_QUEUE), delivered_after=time.time() - stale_seconds
        ).book_ids
        counts = reconcile(
            ctx=ctx,
            enqueue=Enqueue(chunk=enqueue_chunk, chapter=enqueue_chapter, book=enqueue_book),
            stale_seconds=stale_seconds,
            busy=busy,
        )
        if counts["books"]:
            log.info("reconciler re-sent work for stalled books: %s", counts)
        return counts


@signals.worker_init.connect
@signals.worker_process_init.connect
def _sweep_stale_scratch(**_: object) -> None:
    """Scratch folders left by killed processes: at the worker's start and as each pool process starts."""
    sweep_at_start(stale_after=ChapterTask.time_limit)


chunk = app.register_task(ChunkTask())
chapter = app.register_task(ChapterTask())
assemble = app.register_task(AssembleTask())
notify = app.register_task(NotifyTask())
reconcile_books = app.register_task(ReconcileTask())


def enqueue_chunk(message: ChunkMessage) -> None:
    chunk.apply_async((message.model_dump(mode="json"),), queue=QUEUE)


def enqueue_chapter(book_id: str, bucket: str, prefix: str, chapter_index: int) -> None:
    chapter.apply_async((book_id, bucket, prefix, chapter_index), queue=ASSEMBLY_QUEUE)


def enqueue_book(book_id: str, bucket: str, prefix: str) -> None:
    assemble.apply_async((book_id, bucket, prefix), queue=ASSEMBLY_QUEUE)
