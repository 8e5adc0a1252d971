"""Audiobook progress in Redis, fan-in without chords.

Each finished chunk is added to its chapter's done-set; only the first add of
an index counts (SADD), so redelivered chunks cannot count twice, and the one
call that brings a chapter's remaining count to zero is told so and enqueues
the chapter's assembly. Chapters fan in to the book the same way.

A finished book's keys (its hash, chapter hashes, done-sets) expire together
after the TTL; every write after that only lands while the book's hash exists
and takes its expiry, so a late delivery can neither revive a forgotten book
nor leave a key that never expires. The scripts that do this atomically are in
worker.books.state_scripts.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from worker import keys
from worker.books.plan import BookPlan
from worker.books.state_scripts import CHAPTER_DONE, CHUNK_DONE, CHUNK_UNDONE, FINISH, REOPEN, UPDATE
from worker.infra.redisconn import connect as connect_redis

DEFAULT_TTL_SECONDS = 30 * 86400
FINAL_STATES = ("succeeded", "failed")  # a book in one of these has finished; its keys expire

_INTS = (
    "chapters_total",
    "chapters_remaining",
    "chunks_total",
    "chunks_done",
    "chunks_rendered",
    "chunks_reused",
    "bytes_billed",
    "cached_at_submit",
    "remaining",
    "text_bytes",
)
_FLOATS = (
    "updated_at",
    "submitted_at",
    "finished_at",
    "gain_db",
    "duration_seconds",
    "estimated_cost_usd",
    "sample_seconds",
)
# a chapter's loudness report (before and after mastering), the retail sample's, the chapter's proof-listening, and
# each of its chunks' start and end in the chapter file
_JSON = ("loudness", "sample_loudness", "qc", "chunk_times")


class BookState:
    def __init__(self, client: redis.Redis, *, ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self._redis = client
        self._ttl = ttl_seconds  # how long a finished book's keys are kept
        self._update = client.register_script(UPDATE)
        self._reopen = client.register_script(REOPEN)
        self._chunk_done = client.register_script(CHUNK_DONE)
        self._chapter_done = client.register_script(CHAPTER_DONE)
        self._chunk_undone = client.register_script(CHUNK_UNDONE)
        self._finish = client.register_script(FINISH)

    @property
    def client(self) -> redis.Redis:
        """The Redis connection the state lives in (the broker's, for a look at what is in flight)."""
        return self._redis

    @classmethod
    def from_url(cls, url: str, *, master_name: str = "", ttl_seconds: int = DEFAULT_TTL_SECONDS) -> BookState:
        return cls(connect_redis(url, master_name=master_name), ttl_seconds=ttl_seconds)

    def create(self, plan: BookPlan, *, cached: int, estimated_cost_usd: float, notify_url: str | None) -> None:
        now = time.time()
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            keys.book_record(plan.book_id),
            mapping={
                "book_id": plan.book_id,
                "state": "queued",
                "title": plan.title,
                "author": plan.author,
                "bucket": plan.output.bucket,
                "prefix": plan.output.prefix,
                "format": plan.output.format,
                "chapters_total": len(plan.chapters),
                "chapters_remaining": len(plan.chapters),
                "chunks_total": plan.chunk_count,
                "chunks_done": 0,
                "chunks_rendered": 0,
                "chunks_reused": 0,
                "bytes_billed": 0,
                "text_bytes": plan.text_bytes,
                "cached_at_submit": cached,
                "estimated_cost_usd": estimated_cost_usd,
                "notify_url": notify_url or "",
                "submitted_at": now,
                "updated_at": now,
            },
        )
        for chapter in plan.chapters:
            pipe.hset(
                keys.book_chapter(plan.book_id, chapter.index),
                mapping={
                    "title": chapter.title,
                    "chunks_total": len(chapter.chunks),
                    "remaining": len(chapter.chunks),
                    "state": "rendering",
                    "updated_at": now,
                },
            )
        pipe.sadd(keys.active_books(), plan.book_id)
        pipe.execute()

    def chunk_done(self, book_id: str, chapter: int, index: int, *, rendered: bool, billed_bytes: int) -> bool:
        """Record one finished chunk; True for exactly the call that finishes its chapter."""
        remaining = self._chunk_done(
            keys=[
                keys.book_chapter_chunks_done(book_id, chapter),
                keys.book_chapter(book_id, chapter),
                keys.book_record(book_id),
            ],
            args=[index, int(rendered), billed_bytes if rendered else 0, time.time()],
        )
        return int(remaining) == 0

    def chunk_heard(self, book_id: str, chapter: int, index: int, summary: dict[str, Any]) -> None:
        """Keep a chunk's takes summary (worker.takes.summary) for its chapter's report."""
        self._update(
            keys=[keys.book_chapter_heard(book_id, chapter), keys.book_record(book_id)],
            args=[str(index), json.dumps(summary)],
        )

    def heard(self, book_id: str, chapter: int) -> dict[int, dict[str, Any]]:
        raw = self._redis.hgetall(keys.book_chapter_heard(book_id, chapter))
        return {int(k): json.loads(v) for k, v in raw.items()}

    def chunk_lost(self, book_id: str, chapter: int, index: int) -> bool:
        """A chunk counted as done whose audio is gone: count it as not done, so it is rendered again."""
        keys_ = [
            keys.book_chapter_chunks_done(book_id, chapter),
            keys.book_chapter(book_id, chapter),
            keys.book_record(book_id),
        ]
        return bool(self._chunk_undone(keys=keys_, args=[index]))

    def chapter_done(self, book_id: str, chapter: int, **fields: Any) -> bool:
        """Record one assembled chapter; True for exactly the call that finishes the book's chapters."""
        self.set_chapter(book_id, chapter, state="done", **fields)
        remaining = self._chapter_done(
            keys=[keys.book_chapters_done(book_id), keys.book_record(book_id)], args=[chapter, time.time()]
        )
        return int(remaining) == 0

    def done_indexes(self, book_id: str, chapter: int) -> set[int]:
        return {int(i) for i in self._redis.smembers(keys.book_chapter_chunks_done(book_id, chapter))}

    def chapters_done(self, book_id: str) -> set[int]:
        return {int(i) for i in self._redis.smembers(keys.book_chapters_done(book_id))}

    def set_book(self, book_id: str, **fields: Any) -> None:
        """Write fields of a book that exists; a book forgotten (expired) is not written back."""
        self._write(keys.book_record(book_id), book_id, {**fields, "updated_at": time.time()})

    def set_chapter(self, book_id: str, chapter: int, **fields: Any) -> None:
        self._write(keys.book_chapter(book_id, chapter), book_id, {**fields, "updated_at": time.time()})

    def touch(self, book_id: str) -> None:
        """The book is still moving: the reconciler leaves it alone for another stale period."""
        self._write(keys.book_record(book_id), book_id, {"updated_at": time.time()})

    def _write(self, key: str, book_id: str, fields: dict[str, Any]) -> None:
        pairs = [str(item) for field_value in fields.items() for item in field_value]
        self._update(keys=[key, keys.book_record(book_id)], args=pairs)

    def finish(self, book_id: str, *, state: str, **fields: Any) -> bool:
        """Move the book to its final `state`; True only for the call that made the move (a book finishes once).

        The book leaves the active set, and all its keys expire after the TTL."""
        now = time.time()
        mapping = {**fields, "state": state, "finished_at": now, "updated_at": now}
        pairs = [str(item) for field_value in mapping.items() for item in field_value]
        return bool(self._finish(keys=self._all_keys(book_id), args=[book_id, self._ttl, *pairs]))

    def reopen(self, book_id: str) -> bool:
        """A finished book back to rendering (for a retry): error cleared, kept for good again, active again.

        False when there is nothing to reopen: the book is not finished, or its record has expired."""
        return bool(self._reopen(keys=self._all_keys(book_id), args=[book_id, time.time()]))

    def _all_keys(self, book_id: str) -> list[str]:
        """The active set, the book's hash, then its other keys (chapter hashes and done-sets, chapters done,
        attempts)."""
        chapters = int(float(self._redis.hget(keys.book_record(book_id), "chapters_total") or 0))
        per_chapter = [
            k
            for i in range(chapters)
            for k in (
                keys.book_chapter(book_id, i),
                keys.book_chapter_chunks_done(book_id, i),
                keys.book_chapter_heard(book_id, i),
            )
        ]
        book = [keys.book_chapters_done(book_id), keys.book_attempts(book_id)]
        return [keys.active_books(), keys.book_record(book_id), *per_chapter, *book]

    def active(self) -> list[str]:
        return sorted(b.decode() for b in self._redis.smembers(keys.active_books()))

    def records(self) -> dict[str, dict[str, str]]:
        """Every book Redis still holds (rendering, or finished and not yet expired): id -> state, bucket, prefix.

        A SCAN of the whole keyspace: for operators' tools (`narrate gc`), not for tasks."""
        ids = [
            k.decode().rsplit(":", 1)[1] for k in self._redis.scan_iter(match=keys.book_record("?" * 32), count=1000)
        ]
        pipe = self._redis.pipeline(transaction=False)
        for book_id in ids:
            pipe.hmget(keys.book_record(book_id), "state", "bucket", "prefix")
        found = {book_id: [(v or b"").decode() for v in values] for book_id, values in zip(ids, pipe.execute())}
        return {book_id: {"state": st, "bucket": b, "prefix": p} for book_id, (st, b, p) in found.items() if st}

    def state_of(self, book_id: str) -> str:
        raw = self._redis.hget(keys.book_record(book_id), "state")
        return raw.decode() if raw else ""

    def exists(self, book_id: str) -> bool:
        return bool(self._redis.exists(keys.book_record(book_id)))

    def get(self, book_id: str) -> dict[str, Any] | None:
        book = _decode(self._redis.hgetall(keys.book_record(book_id)))
        if not book:
            return None
        pipe = self._redis.pipeline(transaction=False)
        for index in range(int(book.get("chapters_total", 0))):
            pipe.hgetall(keys.book_chapter(book_id, index))
        book["chapters"] = [{"index": i, **_decode(raw)} for i, raw in enumerate(pipe.execute())]
        return book


def _decode(raw: dict[bytes, bytes]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name, text = key.decode(), value.decode()
        if name in _INTS:
            out[name] = int(float(text or 0))
        elif name in _FLOATS:
            out[name] = float(text or 0)
        elif name in _JSON:
            out[name] = json.loads(text or "{}")
        else:
            out[name] = text
    return out
