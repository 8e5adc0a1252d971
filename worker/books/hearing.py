"""A chapter's proof-listening report: what its chunks' takes came to, and where the failing ones are in its file.

Each chunk's task leaves its takes summary in Redis (BookState.chunk_heard); the chapter's assembly knows where
each chunk sits in the chapter file (its cues, after the file's head) and places the failing ones there, so a
person listens to those seconds only.
"""

from __future__ import annotations

from typing import Any

from worker.books.plan import BookPlan
from worker.books.subtitles import Cue
from worker.takes.summary import failing_chunk, totals


def chapter_report(
    plan: BookPlan, chapter_index: int, *, cues: list[Cue], head_seconds: float, heard: dict[int, dict[str, Any]]
) -> dict[str, Any] | None:
    """Totals (chunks heard, takes heard, retakes, left failing, not heard) and each chunk left failing; None when
    the book is not heard."""
    if plan.qc.mode == "off":
        return None
    chunks = plan.chapters[chapter_index].chunks
    summaries = [heard.get(chunk.index) for chunk in chunks]
    failing = [
        failing_chunk(
            summary,
            chunk=chunk.index + 1,
            text=chunk.text,
            start=head_seconds + cue.start,
            end=head_seconds + cue.end,
        )
        for chunk, cue, summary in zip(chunks, cues, summaries)
        if summary is not None and summary["verdict"] == "fail"
    ]
    return {**totals(summaries), "failing": failing}


def book_qc(chapters: list[dict[str, Any] | None], *, mode: str) -> dict[str, Any]:
    """The book's totals over its chapters' reports, for the manifest and status."""
    out: dict[str, Any] = {"mode": mode}
    for report in chapters:
        for name, value in (report or {}).items():
            if isinstance(value, int):
                out[name] = out.get(name, 0) + value
    return out
