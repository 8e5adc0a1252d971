"""Audiobook progress in Redis, fan-in without chords.

Each finished chunk is added to its chapter's done-set; only the first add of
an index counts (SADD), so redelivered chunks cannot count twice, and the one
call that brings a chapter's remaining count to zero is told so and enqueues
the chapter's assembly. Chapters fan in to the book the same way.
"""

from __future__ import annotations

import json
import time
from typing import Any

import redis

from worker import keys
from worker.books.plan import BookPlan
from worker.redisconn import connect as connect_redis

# KEYS: chapter done-set, chapter hash, book hash. ARGV: index, rendered (0/1), billed bytes, now.
_CHUNK_DONE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return -1 end
local remaining = redis.call('HINCRBY', KEYS[2], 'remaining', -1)
redis.call('HSET', KEYS[2], 'updated_at', ARGV[4])
redis.call('HINCRBY', KEYS[3], 'chunks_done', 1)
redis.call('HINCRBY', KEYS[3], ARGV[2] == '1' and 'chunks_rendered' or 'chunks_reused', 1)
redis.call('HINCRBY', KEYS[3], 'bytes_billed', tonumber(ARGV[3]))
redis.call('HSET', KEYS[3], 'updated_at', ARGV[4])
local state = redis.call('HGET', KEYS[3], 'state')
if state == 'queued' then redis.call('HSET', KEYS[3], 'state', 'rendering') end
return remaining
"""

# KEYS: chapter done-set, chapter hash, book hash. ARGV: index. Undoes one completion (its audio was lost).
_CHUNK_UNDONE = """
if redis.call('SREM', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'remaining', 1)
redis.call('HINCRBY', KEYS[3], 'chunks_done', -1)
return 1
"""

# KEYS: chapters-done set, book hash. ARGV: chapter index, now.
_CHAPTER_DONE = """
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return -1 end
redis.call('HSET', KEYS[2], 'updated_at', ARGV[2])
return redis.call('HINCRBY', KEYS[2], 'chapters_remaining', -1)
"""

# KEYS: book hash, active-books set. ARGV: book id, then field, value pairs. Only the first finish counts.
_FINISH = """
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'succeeded' or state == 'failed' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('SREM', KEYS[2], ARGV[1])
return 1
"""

_INTS = ("chapters_total", "chapters_remaining", "chunks_total", "chunks_done", "chunks_rendered",
         "chunks_reused", "bytes_billed", "cached_at_submit", "remaining", "text_bytes")  # fmt: skip
_FLOATS = ("updated_at", "submitted_at", "finished_at", "gain_db", "duration_seconds", "estimated_cost_usd", "sample_seconds")
_JSON = ("loudness", "sample_loudness")  # a chapter's report (before and after mastering), the retail sample's


class BookState:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._chunk_done = client.register_script(_CHUNK_DONE)
        self._chapter_done = client.register_script(_CHAPTER_DONE)
        self._chunk_undone = client.register_script(_CHUNK_UNDONE)
        self._finish = client.register_script(_FINISH)

    @property
    def client(self) -> redis.Redis:
        """The Redis connection the state lives in (the broker's, for a look at what is in flight)."""
        return self._redis

    @classmethod
    def from_url(cls, url: str) -> BookState:
        return cls(connect_redis(url))

    def create(self, plan: BookPlan, *, cached: int, estimated_cost_usd: float, notify_url: str | None) -> None:
        now = time.time()
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.book_record(plan.book_id), mapping={
            "book_id": plan.book_id, "state": "queued", "title": plan.title, "author": plan.author,
            "bucket": plan.output.bucket, "prefix": plan.output.prefix, "format": plan.output.format,
            "chapters_total": len(plan.chapters), "chapters_remaining": len(plan.chapters),
            "chunks_total": plan.chunk_count, "chunks_done": 0, "chunks_rendered": 0, "chunks_reused": 0,
            "bytes_billed": 0, "text_bytes": plan.text_bytes, "cached_at_submit": cached,
            "estimated_cost_usd": estimated_cost_usd, "notify_url": notify_url or "",
            "submitted_at": now, "updated_at": now,
        })  # fmt: skip
        for chapter in plan.chapters:
            pipe.hset(keys.book_chapter(plan.book_id, chapter.index), mapping={
                "title": chapter.title, "chunks_total": len(chapter.chunks), "remaining": len(chapter.chunks),
                "state": "rendering", "updated_at": now,
            })  # fmt: skip
        pipe.sadd(keys.active_books(), plan.book_id)
        pipe.execute()

    def chunk_done(self, book_id: str, chapter: int, index: int, *, rendered: bool, billed_bytes: int) -> bool:
        """Record one finished chunk; True for exactly the call that finishes its chapter."""
        remaining = self._chunk_done(
            keys=[keys.book_chapter_chunks_done(book_id, chapter), keys.book_chapter(book_id, chapter), keys.book_record(book_id)],
            args=[index, int(rendered), billed_bytes if rendered else 0, time.time()],
        )
        return int(remaining) == 0

    def chunk_lost(self, book_id: str, chapter: int, index: int) -> bool:
        """A chunk counted as done whose audio is gone: count it as not done, so it is rendered again."""
        keys_ = [keys.book_chapter_chunks_done(book_id, chapter), keys.book_chapter(book_id, chapter), keys.book_record(book_id)]
        return bool(self._chunk_undone(keys=keys_, args=[index]))

    def chapter_done(self, book_id: str, chapter: int, **fields: Any) -> bool:
        """Record one assembled chapter; True for exactly the call that finishes the book's chapters."""
        self.set_chapter(book_id, chapter, state="done", **fields)
        remaining = self._chapter_done(keys=[keys.book_chapters_done(book_id), keys.book_record(book_id)], args=[chapter, time.time()])
        return int(remaining) == 0

    def done_indexes(self, book_id: str, chapter: int) -> set[int]:
        return {int(i) for i in self._redis.smembers(keys.book_chapter_chunks_done(book_id, chapter))}

    def chapters_done(self, book_id: str) -> set[int]:
        return {int(i) for i in self._redis.smembers(keys.book_chapters_done(book_id))}

    def set_book(self, book_id: str, **fields: Any) -> None:
        self._redis.hset(keys.book_record(book_id), mapping={k: str(v) for k, v in {**fields, "updated_at": time.time()}.items()})

    def set_chapter(self, book_id: str, chapter: int, **fields: Any) -> None:
        mapping = {k: str(v) for k, v in {**fields, "updated_at": time.time()}.items()}
        self._redis.hset(keys.book_chapter(book_id, chapter), mapping=mapping)

    def touch(self, book_id: str) -> None:
        """The book is still moving: the reconciler leaves it alone for another stale period."""
        self._redis.hset(keys.book_record(book_id), "updated_at", str(time.time()))

    def finish(self, book_id: str, *, state: str, **fields: Any) -> bool:
        """Move the book to its final `state`; True only for the call that made the move (a book finishes once)."""
        now = time.time()
        mapping = {**fields, "state": state, "finished_at": now, "updated_at": now}
        pairs = [str(item) for field_value in mapping.items() for item in field_value]
        return bool(self._finish(keys=[keys.book_record(book_id), keys.active_books()], args=[book_id, *pairs]))

    def active(self) -> list[str]:
        return sorted(b.decode() for b in self._redis.smembers(keys.active_books()))

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
