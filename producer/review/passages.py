"""Every passage of a book with its takes: what `narrate takes` lists.

A passage is one chunk of the plan, numbered from 1 in reading order within its chapter (as `narrate qc` numbers
them). Its takes come from its takes record (worker.takes.record): each take's number, when it was made, what was
heard and the verdict, and which take is chosen. Its place in the chapter file is known once the chapter is
assembled (the chapter's `chunk_times`); before that, and for books assembled before chunk times were kept, it is
None. A chunk rendered without proof-listening has no takes record: it lists no takes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from worker.books.plan import BookPlan, PlanChunk
from worker.storage import Storage
from worker.support.readahead import read_ahead
from worker.takes import record as records
from worker.takes.record import ChunkTakes

_READS = 8  # takes records fetched at once


@dataclass(frozen=True)
class Take:
    take: int
    chosen: bool
    made_at: str
    heard: str | None  # what the recognizer heard; None: not heard
    verdict: str | None  # "pass" or "fail"; None: not heard
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Passage:
    chapter: int  # from 1
    chunk: int  # from 1, within its chapter
    text: str
    start: float | None  # seconds in the chapter file
    end: float | None
    takes: list[Take]

    @property
    def flagged(self) -> bool:
        """Proof-listening found its chosen take failing."""
        chosen = next((t for t in self.takes if t.chosen), None)
        return chosen is not None and chosen.verdict == "fail"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def book_passages(
    plan: BookPlan, chapters: list[dict[str, Any]], *, storage: Storage, chapter: int | None = None
) -> list[Passage]:
    """The book's passages in reading order (`chapter`: that one only, counted from 1); `chapters` are the book
    record's (for each chapter's chunk times)."""
    wanted = [c for c in plan.chapters if chapter is None or c.index == chapter - 1]
    chunks = [(c.index, chunk) for c in wanted for chunk in c.chunks]
    loaded = read_ahead(chunks, lambda pair: records.load(storage, plan.output.bucket, pair[1].key), ahead=_READS)
    times = {c.get("index"): c.get("chunk_times") or [] for c in chapters}
    return [_passage(index, chunk, takes, times.get(index, [])) for (index, chunk), takes in zip(chunks, loaded)]


def _passage(chapter: int, chunk: PlanChunk, takes: ChunkTakes | None, times: list[list[float]]) -> Passage:
    start, end = times[chunk.index] if chunk.index < len(times) else (None, None)
    listed = [_take(entry, chosen=takes.chosen) for entry in takes.takes] if takes is not None else []
    return Passage(chapter + 1, chunk.index + 1, chunk.text, start, end, listed)


def _take(entry: records.TakeEntry, *, chosen: int | None) -> Take:
    verdict = entry.verdict or {}
    return Take(
        take=entry.take,
        chosen=entry.take == chosen,
        made_at=entry.made_at.isoformat(),
        heard=(entry.heard or {}).get("text") if entry.heard is not None else None,
        verdict=verdict.get("verdict"),
        findings=list(verdict.get("findings", [])),
    )
