"""Thin Celery tasks for audiobooks: chunk → chapter → book → notify, plus the reconciler."""

from __future__ import annotations

import contextlib
import logging
import time
from typing import Any

import redis
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded
from pydantic import ValidationError

from worker import keys, metrics
from worker.app import ASSEMBLY_QUEUE, QUEUE, app
from worker.backoff import retry_delay, wait_delay
from worker.books import webhook
from worker.books.book import assemble_book
from worker.books.chapter import assemble_chapter
from worker.books.chunk import held_chunk_key, render_chunk
from worker.books.heartbeat import book_heartbeat
from worker.books.plan import ChunkMessage
from worker.books.reconcile import Enqueue, reconcile
from worker.broker import in_flight
from worker.contract import (
    BOOK_ASSEMBLE_TASK,
    BOOK_CHAPTER_TASK,
    BOOK_CHUNK_TASK,
    BOOK_NOTIFY_TASK,
    BOOK_RECONCILE_TASK,
)
from worker.errors import PermanentError, TransientError
from worker.events import cause_of, event
from worker.fish.breaker import BreakerOpen
from worker.fish.limiter import SlotUnavailable
from worker.jobs.lease import LeaseTaken
from worker.runtime import book_context
from worker.settings import get_settings

log = logging.getLogger("narrate.books")
FINAL_STATES = ("succeeded", "failed")


# Redis dropping a connection is the same trouble as S3 or Fish doing it: the step is worth another try.
TRANSIENT = (TransientError, SoftTimeLimitExceeded, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class BookTask(Task):
    """Retries every failure but a permanent one with back-off, a bounded number of times.

    Transient failures (`failures` in the task's kwargs) leave the book for the
    reconciler once they run out; unexpected ones (`errors`), bugs most likely,
    fail the book with their reason; a permanent one fails it at once.
    """

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # waits for a slot or for credit are not failures; failures are bounded below

    def guarded(self, book_id: str, step: Any) -> Any:
        try:
            return step()
        except (SlotUnavailable, BreakerOpen, LeaseTaken) as exc:  # waits, not failures
            metrics.RETRIES.labels(cause=cause_of(exc)).inc()
            _note(book_id, waiting=str(exc))
            raise self.retry(countdown=wait_delay(exc, cap=get_settings().longest_countdown))
        except TRANSIENT as exc:
            attempt = self._attempt("failures")
            if attempt >= get_settings().max_attempts:
                # Leave the book rendering: the reconciler sends the work again later.
                _note(book_id, error=f"{self.name} gave up for now after {attempt} attempts: {_describe(exc)}")
                event(log, logging.WARNING, "book %s: %s gave up for now: %s", book_id, self.name, _describe(exc), book_id=book_id,
                      attempt=attempt, cause=cause_of(exc), error=exc)  # fmt: skip
                return None
            metrics.RETRIES.labels(cause=cause_of(exc)).inc()
            _note(book_id, waiting=f"{self.name} attempt {attempt} failed, retrying: {_describe(exc)}")  # keeps the book fresh
            raise self._again("failures", attempt)
        except PermanentError as exc:
            book_context().state.finish(book_id, state="failed", error=str(exc))
            if self.name == BOOK_CHUNK_TASK:
                metrics.CHUNKS.labels(state="failed").inc()
            event(log, logging.WARNING, "book %s failed: %s", book_id, exc, book_id=book_id, error=exc)
            return None
        except Exception as exc:  # most likely a bug: a few more tries, then the book fails visibly, never stuck
            attempt = self._attempt("errors")
            event(log, logging.ERROR, "book %s: %s failed unexpectedly (attempt %d)", book_id, self.name, attempt, exc_info=True,
                  book_id=book_id, attempt=attempt, error=exc)  # fmt: skip
            metrics.RETRIES.labels(cause="other").inc()
            if attempt >= get_settings().max_attempts:
                book_context().state.finish(book_id, state="failed",
                                            error=f"internal error in {self.name} after {attempt} attempts: {_describe(exc)}")  # fmt: skip
                return None
            _note(book_id, waiting=f"{self.name} attempt {attempt} failed unexpectedly, retrying: {_describe(exc)}")
            raise self._again("errors", attempt)

    def _attempt(self, count: str) -> int:
        """This attempt's number in its count; the counts travel in the task's kwargs, waits above do not add to them."""
        return int((self.request.kwargs or {}).get(count, 0)) + 1

    def _again(self, count: str, attempt: int) -> Exception:
        settings = get_settings()
        delay = retry_delay(attempt, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
        return self.retry(countdown=delay, kwargs={**(self.request.kwargs or {}), count: attempt})


def _note(book_id: str, **fields: Any) -> None:
    """Best-effort bookkeeping on the way to a retry: Redis being away must not stop the retry itself."""
    try:
        book_context().state.set_book(book_id, **fields)
    except redis.exceptions.RedisError as exc:
        log.warning("book %s: could not record %s: %s", book_id, sorted(fields), exc)


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, (TransientError, PermanentError)) else f"{exc.__class__.__name__}: {exc}"


class ChunkTask(BookTask):
    name = BOOK_CHUNK_TASK

    def run(self, message: dict[str, Any], failures: int = 0, errors: int = 0) -> None:
        try:
            chunk = ChunkMessage.model_validate(message)
        except ValidationError as exc:
            log.error("refused a malformed %s message: %s", self.name, exc.errors()[:3])
            return
        self.guarded(chunk.book_id, lambda: self.step(chunk))

    @staticmethod
    def step(chunk: ChunkMessage) -> None:
        ctx = book_context()
        if ctx.state.state_of(chunk.book_id) == "failed":
            return  # the book has failed for good: do not pay for the rest of it
        # One delivery renders a chunk at a time: a copy handed out again after a connection loss waits.
        with ctx.render.leases.hold(held_chunk_key(chunk)) if ctx.render.leases else contextlib.nullcontext():
            rendered, billed = render_chunk(chunk, ctx=ctx)
        metrics.CHUNKS.labels(state="rendered" if rendered else "reused").inc()
        event(log, logging.INFO, "book %s: chunk %d.%d %s", chunk.book_id, chunk.chapter, chunk.index, "rendered" if rendered else "reused",
              book_id=chunk.book_id, chapter=chunk.chapter, chunk=chunk.index, state="rendered" if rendered else "reused",
              text_bytes=billed)  # fmt: skip
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

    def run(self, book_id: str, bucket: str, prefix: str, chapter: int, failures: int = 0, errors: int = 0) -> None:
        self.guarded(book_id, lambda: self.step(book_id, bucket, prefix, chapter))

    @staticmethod
    def step(book_id: str, bucket: str, prefix: str, chapter: int) -> None:
        ctx = book_context()
        if chapter in ctx.state.chapters_done(book_id):
            return  # delivered again, or sent by the reconciler after all: its file is made and counted
        ctx.state.set_chapter(book_id, chapter, state="assembling")
        started = time.perf_counter()
        with book_heartbeat(ctx.state, book_id, stale_seconds=get_settings().reconcile_stale_seconds):
            fields = assemble_chapter(ctx.plan(bucket=bucket, prefix=prefix, book_id=book_id), chapter, ctx=ctx)
        seconds = time.perf_counter() - started
        metrics.ASSEMBLY_SECONDS.labels(kind="chapter").observe(seconds)
        event(log, logging.INFO, "book %s: chapter %d assembled in %.1fs", book_id, chapter, seconds, book_id=book_id, chapter=chapter,
              seconds=round(seconds, 3), audio_seconds=fields.get("duration_seconds"))  # fmt: skip
        if ctx.state.chapter_done(book_id, chapter, **fields):
            enqueue_book(book_id, bucket, prefix)


class AssembleTask(BookTask):
    name = BOOK_ASSEMBLE_TASK
    soft_time_limit = _ASSEMBLY_LIMITS["soft_time_limit"]
    time_limit = _ASSEMBLY_LIMITS["time_limit"]

    def run(self, book_id: str, bucket: str, prefix: str, failures: int = 0, errors: int = 0) -> None:
        self.guarded(book_id, lambda: self.step(book_id, bucket, prefix))

    @staticmethod
    def step(book_id: str, bucket: str, prefix: str) -> None:
        ctx = book_context()
        if ctx.state.state_of(book_id) in FINAL_STATES:
            return  # assembled already (or failed for good): nothing to make, nobody to tell again
        ctx.state.set_book(book_id, state="assembling")
        started = time.perf_counter()
        with book_heartbeat(ctx.state, book_id, stale_seconds=get_settings().reconcile_stale_seconds):
            manifest = assemble_book(ctx.plan(bucket=bucket, prefix=prefix, book_id=book_id), ctx=ctx)
        seconds = time.perf_counter() - started
        metrics.ASSEMBLY_SECONDS.labels(kind="book").observe(seconds)
        finished = ctx.state.finish(book_id, state="succeeded", output_url=manifest["outputs"]["m4b"], error="",
                                    manifest_url=keys.s3_url(bucket, keys.book_manifest(prefix, book_id)))  # fmt: skip
        if not finished:
            return  # a duplicate assembly finished it first, and sent its webhook
        event(log, logging.INFO, "book %s finished: %s", book_id, manifest["outputs"]["m4b"], book_id=book_id, seconds=round(seconds, 3),
              chunks=manifest["chunks"]["total"], text_bytes=manifest["bytes_billed"])  # fmt: skip
        if (ctx.state.get(book_id) or {}).get("notify_url"):
            notify.apply_async((book_id,), queue=ASSEMBLY_QUEUE)


class NotifyTask(Task):
    name = BOOK_NOTIFY_TASK
    acks_late = True
    reject_on_worker_lost = True

    def run(self, book_id: str) -> None:
        settings = get_settings()
        state = book_context().state
        book = state.get(book_id) or {}
        payload = {
            "event": "book.finished", "book_id": book_id, "state": book.get("state"), "title": book.get("title"),
            "m4b_url": book.get("output_url"), "manifest_url": book.get("manifest_url"), "error": book.get("error") or None,
            "chunks_rendered": book.get("chunks_rendered"), "chunks_reused": book.get("chunks_reused"),
            "bytes_billed": book.get("bytes_billed"),
        }  # fmt: skip
        secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
        attempt = self.request.retries + 1
        try:
            webhook.send(book["notify_url"], payload, secret=secret)
        except TransientError as exc:
            state.set_book(book_id, notify_status=f"attempt {attempt} failed: {exc}")
            if attempt >= settings.webhook_max_attempts:
                return
            raise self.retry(countdown=retry_delay(attempt, base=settings.retry_base_seconds, cap=settings.retry_max_seconds),
                             max_retries=settings.webhook_max_attempts)  # fmt: skip
        except PermanentError as exc:
            state.set_book(book_id, notify_status=f"refused: {exc}")
            return
        state.set_book(book_id, notify_status=f"delivered after {attempt} attempt(s)")


class ReconcileTask(Task):
    name = BOOK_RECONCILE_TASK

    def run(self) -> dict[str, int]:
        ctx = book_context()
        stale_seconds = get_settings().reconcile_stale_seconds
        # Live work keeps its book fresh, so a quiet book's delivery older than the stale limit is a dead worker's.
        busy = in_flight(ctx.state.client, (QUEUE, ASSEMBLY_QUEUE), delivered_after=time.time() - stale_seconds).book_ids
        counts = reconcile(ctx=ctx, enqueue=Enqueue(chunk=enqueue_chunk, chapter=enqueue_chapter, book=enqueue_book),
                           stale_seconds=stale_seconds, busy=busy)  # fmt: skip
        if counts["books"]:
            log.info("reconciler re-sent work for stalled books: %s", counts)
        return counts


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
