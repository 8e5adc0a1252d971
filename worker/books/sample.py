"""The retail sample: the opening minutes of the first real chapter, as a file of its own.

It is written from the chapter's mastered audio as the chapter is encoded, and
ends at the end of a chunk (never mid-word) once it is long enough, or at its
longest, followed by the same room-tone tail every file has.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from worker.audio.acx import acx_report
from worker.audio.assembly import AudioFileWriter
from worker.audio.loudness import LoudnessMeter
from worker.audio.roomtone import RoomTone
from worker.books.plan import BookPlan
from worker.books.subtitles import Cue


def first_body_chapter(plan: BookPlan) -> int | None:
    return next((c.index for c in plan.chapters if c.role == "body"), None)


class RetailSample:
    """Takes a chapter's mastered blocks; stops at the first chunk end past the shortest length, or at the longest."""

    def __init__(self, path: Path, *, plan: BookPlan, rate: int, cues: list[Cue], head_seconds: float) -> None:
        assert plan.retail_sample_seconds is not None
        shortest, longest = plan.retail_sample_seconds
        self._writer = AudioFileWriter(
            path,
            fmt=plan.output.format,
            rate=rate,
            bit_rate=plan.bit_rate,
            metadata={"title": f"{plan.title} (sample)", "artist": plan.author},
        )
        self._rate, self._cues, self._head = rate, cues, head_seconds
        self._shortest, self._longest = shortest, longest
        self._tail = RoomTone(rate=rate).seconds(plan.pauses.tail_seconds)
        self._written = 0
        self._meter = LoudnessMeter(rate, levels=False)
        self._cut: int | None = None
        self.closed = False

    def write(self, block: np.ndarray) -> None:
        if self.closed:
            return
        cut = self._cut_at()
        take = block if cut is None else block[: max(0, cut - self._written)]
        self._writer.write(take)
        self._meter.add(take)
        self._written += take.size
        if cut is not None and self._written >= cut:
            self.close()

    def close(self) -> None:
        """At the cut, or at the chapter's end when it is shorter than the shortest sample."""
        if not self.closed:
            self._writer.write(self._tail)
            self._meter.add(self._tail)
            self._writer.close()
            self.closed = True

    def discard(self) -> None:
        """After a failure: let go of the file unfinished."""
        self.closed = True
        self._writer.discard()

    def report(self) -> dict:
        return acx_report(self._meter.result())

    @property
    def seconds(self) -> float:
        return self._writer.seconds_written

    def _cut_at(self) -> int | None:
        if self._cut is None:
            ends = [self._head + cue.end for cue in self._cues]
            if ends and ends[-1] >= self._shortest:
                fitting = [end for end in ends if end <= self._longest]
                self._cut = int(round((fitting[-1] if fitting else self._longest) * self._rate))
            elif self._written >= self._longest * self._rate:
                self._cut = self._written
        return self._cut
