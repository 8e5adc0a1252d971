"""A book's units of work for the failure policy: a chunk, a chapter's assembly, the book's, its webhook.

Their failures and worker deaths are counted in one hash per book, so a chunk
the reconciler sends again draws on the same bound as its retries. A unit that
runs out of attempts ends the whole book `failed`, naming itself and the last
error; `narrate retry BOOK_ID` starts again from what is stored.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from worker import keys
from worker.books.state import BookState
from worker.observability import metrics
from worker.policy.failures import Attempts, Unit
from worker.settings import Settings
from worker.webhooks.outcome import WebhookOutcome

log = logging.getLogger("narrate.books")
FINAL_STATES = ("succeeded", "failed")
FIRST_WORDS = 8


def first_words(text: str, *, words: int = FIRST_WORDS) -> str:
    """The start of a chunk's text, enough for a person to find it in the book."""
    head = text.split()
    return " ".join(head[:words]) + ("…" if len(head) > words else "")


class BookUnit(Unit):
    """One of a book's units; `field` names it in the book's attempts hash."""

    def __init__(
        self,
        state: BookState,
        book_id: str,
        *,
        field: str,
        label: str,
        settings: Settings,
        max_attempts: int | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(max_attempts=max_attempts or settings.max_attempts)
        self.state = state
        self.book_id = book_id
        self.field = field
        self.label = label
        self.name = f"book {book_id}: {label}"
        self.fields = {"book_id": book_id, **fields}
        self._ttl = settings.record_ttl_seconds

    def attempts(self) -> Attempts:
        return Attempts(self.state.client, keys.book_attempts(self.book_id), field=self.field, ttl_seconds=self._ttl)

    def ended(self) -> bool:
        return self.state.state_of(self.book_id) == "failed"  # the book failed for good: do not pay for the rest

    def permanent(self, exc: BaseException) -> str:
        return f"{self.label}: {exc}"

    def succeeded(self) -> None:
        self.attempts().clear()

    def waiting(self, note: str, *, exc: BaseException) -> None:
        self.note(waiting=f"{self.label}: {note}")

    def retrying(self, note: str, *, attempt: int) -> None:
        self.note(waiting=f"{self.label}: {note}")  # keeps the book fresh for the reconciler

    def resent(self, note: str) -> None:
        self.note(waiting=f"{self.label}: {note}")

    def fail(self, reason: str) -> None:
        if self.state.finish(self.book_id, state="failed", error=reason):
            log.warning("book %s failed: %s", self.book_id, reason, extra=self.fields)

    def note(self, **fields: Any) -> None:
        """Best-effort bookkeeping on the way to a retry: Redis being away must not stop the retry itself."""
        try:
            self.state.set_book(self.book_id, **fields)
        except redis.RedisError as exc:
            log.warning("book %s: could not record %s: %s", self.book_id, sorted(fields), exc)


class ChunkUnit(BookUnit):
    def __init__(self, state: BookState, chunk: Any, *, settings: Settings) -> None:
        super().__init__(
            state,
            chunk.book_id,
            field=f"chunk:{chunk.chapter}.{chunk.index}",
            settings=settings,
            label=f'chapter {chunk.chapter + 1}, chunk {chunk.index + 1} ("{first_words(chunk.text)}")',
            chapter=chunk.chapter,
            chunk=chunk.index,
        )
        self.chunk = chunk

    def fail(self, reason: str) -> None:
        metrics.CHUNKS.labels(state="failed").inc()
        super().fail(reason)


class ChapterUnit(BookUnit):
    def __init__(
        self, state: BookState, book_id: str, *, bucket: str, prefix: str, chapter: int, settings: Settings
    ) -> None:
        super().__init__(
            state,
            book_id,
            field=f"chapter:{chapter}",
            label=f"chapter {chapter + 1}'s assembly",
            settings=settings,
            chapter=chapter,
        )
        self.bucket, self.prefix, self.chapter = bucket, prefix, chapter


class AssemblyUnit(BookUnit):
    def __init__(self, state: BookState, book_id: str, *, bucket: str, prefix: str, settings: Settings) -> None:
        super().__init__(state, book_id, field="book", label="the book's assembly", settings=settings)
        self.bucket, self.prefix = bucket, prefix

    def ended(self) -> bool:
        return self.state.state_of(self.book_id) in FINAL_STATES  # assembled already, or failed for good


class NotifyUnit(WebhookOutcome, BookUnit):
    """The completion webhook: bounded by its own setting, and its failure is the webhook's, not the book's."""

    def __init__(self, state: BookState, book_id: str, *, settings: Settings) -> None:
        super().__init__(
            state,
            book_id,
            field="notify",
            label="the completion webhook",
            settings=settings,
            max_attempts=settings.webhook_max_attempts,
        )

    def ended(self) -> bool:
        return False

    def note_status(self, status: str) -> None:
        self.note(notify_status=status)
