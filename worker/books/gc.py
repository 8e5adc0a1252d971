"""What a bucket keeps that nothing needs any more (`narrate gc`): found, then deleted on request.

- `chunks/<hash>.wav` that no live book's plan references, written more than D days ago.
  Chunks are content-addressed and shared by every book and job of the bucket with the
  same text, voice and settings, so age alone never condemns one: a book still
  rendering, or failed and retryable until its record expires, may need a chunk
  rendered long before it was submitted. Live books are the book records in Redis that
  have not succeeded; their chunks are read from their plan.json.
- `parts/` of books that finished, failed, or whose record is gone: a retried book
  makes a missing part again from its chunks.
- Multipart uploads open for more than a day: left by killed processes, billed as
  storage, and never shown in a listing.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from worker import keys
from worker.books.plan import BookPlan
from worker.books.state import FINAL_STATES, BookState
from worker.storage import Storage

DAY = 86400.0
ABANDONED_UPLOAD_SECONDS = DAY  # the longest upload (a book's assembly) ends within the visibility timeout, an hour
# A chunk's audio, and its takes beside it (worker.takes): they go when the chunk goes.
_CHUNK = re.compile(r"(chunks/[0-9a-f]{64})(?:\.wav|/takes\.json|/take-\d+\.wav)")
_PART = re.compile(r"(?:.*/)?([0-9a-f]{32})/parts/\d{3}\.(?:aac|npz)")
_PLAN = re.compile(r"(?:.*/)?([0-9a-f]{32})/plan\.json")


def chunk_of(key: str) -> str:
    """The chunk an object of `chunks/` belongs to: its own audio's key (a take's chunk, for a take)."""
    match = _CHUNK.fullmatch(key)
    return match.group(1) + ".wav" if match else key


@dataclass(frozen=True)
class Stored:
    key: str
    size: int
    modified: float  # Unix time


@dataclass(frozen=True)
class OpenUpload:
    key: str
    upload_id: str
    started: float  # Unix time


@dataclass
class References:
    """The chunks live books need; `held` names a live book whose needs could not be read (then no chunk may go)."""

    chunks: set[str] = field(default_factory=set)
    held: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class Garbage:
    bucket: str
    prefix: str
    older_than_days: float
    chunks: list[Stored] = field(default_factory=list)
    parts: list[Stored] = field(default_factory=list)
    uploads: list[OpenUpload] = field(default_factory=list)
    kept: dict[str, int] = field(
        default_factory=lambda: {"chunks_referenced": 0, "chunks_recent": 0, "parts_of_live_books": 0}
    )
    notes: list[str] = field(default_factory=list)

    def to_json(self, *, applied: bool) -> dict[str, Any]:
        def stored(items: list[Stored]) -> dict[str, Any]:
            return {"count": len(items), "bytes": sum(i.size for i in items), "keys": [i.key for i in items]}

        uploads = [{"key": u.key, "upload_id": u.upload_id, "started": u.started} for u in self.uploads]
        return {
            "bucket": self.bucket,
            "prefix": self.prefix,
            "older_than_days": self.older_than_days,
            "applied": applied,
            "chunks": stored(self.chunks),
            "parts": stored(self.parts),
            "uploads": {"count": len(uploads), "items": uploads},
            "kept": self.kept,
            "notes": self.notes,
        }


def find(
    storage: Storage,
    state: BookState,
    *,
    bucket: str,
    prefix: str = "",
    older_than_days: float,
    now: float | None = None,
) -> Garbage:
    """What `collect` would delete, and what is kept and why. Nothing is changed."""
    now = time.time() if now is None else now
    prefix = prefix.strip("/")
    garbage = Garbage(bucket=bucket, prefix=prefix, older_than_days=older_than_days)
    chunks: list[Stored] = []
    parts: list[tuple[str, Stored]] = []
    young_plans: list[str] = []
    # Listed before the book records are read: a book submitted meanwhile is then seen in Redis, or by its new plan.
    for where in [""] if not prefix else ["chunks/", prefix + "/"]:
        for key, size, modified in storage.walk(bucket, where):
            if _CHUNK.fullmatch(key):
                chunks.append(Stored(key, size, modified))
            elif match := _PART.fullmatch(key):
                parts.append((match.group(1), Stored(key, size, modified)))
            elif _PLAN.fullmatch(key) and now - modified < DAY:
                young_plans.append(key)
    records = state.records()
    refs = referenced(storage, records, bucket=bucket, extra_plans=young_plans)
    garbage.notes += refs.notes
    cutoff = now - older_than_days * DAY
    for chunk in chunks:
        if chunk_of(chunk.key) in refs.chunks:
            garbage.kept["chunks_referenced"] += 1
        elif chunk.modified > cutoff:
            garbage.kept["chunks_recent"] += 1
        else:
            garbage.chunks.append(chunk)
    if refs.held and garbage.chunks:
        held = ", ".join(refs.held)
        garbage.notes.append(
            f"{len(garbage.chunks)} unreferenced chunk(s) kept this time: what book(s) {held} need is unknown"
        )
        garbage.chunks = []
    for book_id, part in parts:
        if records.get(book_id, {}).get("state", "succeeded") in FINAL_STATES:  # no record: finished or failed long ago
            garbage.parts.append(part)
        else:
            garbage.kept["parts_of_live_books"] += 1
    uploads = storage.open_uploads(bucket, prefix + "/" if prefix else "")
    garbage.uploads = [OpenUpload(*upload) for upload in uploads if now - upload[2] > ABANDONED_UPLOAD_SECONDS]
    return garbage


def referenced(
    storage: Storage, records: dict[str, dict[str, str]], *, bucket: str, extra_plans: Sequence[str] = ()
) -> References:
    """The chunks of every book in `bucket` that has not succeeded (failed ones may be retried), read from their plans;
    `extra_plans` (keys of plan.json files) count too, whatever Redis says: books being submitted right now."""
    refs = References()
    live = {book_id: r for book_id, r in records.items() if r["bucket"] == bucket and r["state"] != "succeeded"}
    plan_keys = {keys.book_plan(r["prefix"], book_id): (book_id, r["state"]) for book_id, r in live.items()}
    for key in extra_plans:
        book_id = _PLAN.fullmatch(key).group(1)  # type: ignore[union-attr]
        if book_id not in records:
            plan_keys.setdefault(key, (book_id, "submitted"))
    for key, (book_id, book_state) in plan_keys.items():
        raw = storage.get(bucket, key)
        try:
            plan = BookPlan.model_validate_json(raw) if raw is not None else None
        except ValidationError:
            plan = None
        if plan is not None:
            refs.chunks.update(chunk.key for chapter in plan.chapters for chunk in chapter.chunks)
        elif book_state == "failed":
            refs.notes.append(
                f"book {book_id} failed and its plan s3://{bucket}/{key} is missing or unreadable: it cannot be retried"
            )
        else:
            refs.held.append(book_id)
            refs.notes.append(
                f"book {book_id} is {book_state} but its plan s3://{bucket}/{key} is missing or unreadable"
            )
    return refs


def collect(storage: Storage, state: BookState, garbage: Garbage) -> Garbage:
    """Delete what `find` found. Live books are read again first: a chunk a book submitted since then uses stays."""
    refs = referenced(storage, state.records(), bucket=garbage.bucket)
    if refs.held:
        garbage.notes += [*refs.notes, f"no chunk deleted: what book(s) {', '.join(refs.held)} need is unknown"]
        garbage.chunks = []
    else:
        still = [c for c in garbage.chunks if chunk_of(c.key) in refs.chunks]
        garbage.chunks = [c for c in garbage.chunks if chunk_of(c.key) not in refs.chunks]
        garbage.kept["chunks_referenced"] += len(still)
    storage.delete_many(garbage.bucket, [item.key for item in (*garbage.chunks, *garbage.parts)])
    for upload in garbage.uploads:
        storage.abort_upload(garbage.bucket, upload.key, upload.upload_id)
    return garbage
