"""A chapter as PCM: its stored chunks decoded in order with the pauses between them, and its mastering chain.

Chunks (worker.books.chunk) are content-addressed WAVs. A chapter
(worker.books.chapter) is decoded once, measured, mastered and encoded into its
own file and its share of the .m4b; the book (worker.books.book) joins those
shares without decoding them. A step that fails uploads nothing: files go to S3
only once they are whole.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from worker.audio.assembly import first_sample_rate, pcm_blocks
from worker.audio.mastering import MasteringChain
from worker.audio.roomtone import LEVEL_DB as ROOM_TONE_DB
from worker.audio.roomtone import RoomTone
from worker.books.context import BookContext, chunk_data
from worker.books.plan import BookPlan, PlanChapter
from worker.books.subtitles import Cue
from worker.support.readahead import read_ahead

# Chunks fetched ahead of the one being encoded: storage latency overlaps the encoder's work.
READ_AHEAD = 2


def zeros(samples: int) -> np.ndarray:
    return np.zeros(samples, dtype=np.float32)


def chapter_pcm(
    plan: BookPlan, chapter: PlanChapter, *, rate: int, ctx: BookContext, cues: list[Cue] | None = None
) -> Iterator[np.ndarray]:
    """The chapter as mono float blocks at `rate`, pauses included.

    Fills `cues` with each chunk's times, counted from the chapter's first word.
    """
    position = 0.0
    fetched = read_ahead(
        [chunk.key for chunk in chapter.chunks], lambda key: chunk_data(plan, key, ctx=ctx), ahead=READ_AHEAD
    )
    for number, (chunk, data) in enumerate(zip(chapter.chunks, fetched)):
        if number:
            seconds = plan.pauses.paragraph_seconds if chunk.paragraph_start else plan.pauses.sentence_seconds
            yield zeros(int(round(seconds * rate)))  # the mastering chain lays room tone under it
            position += int(round(seconds * rate)) / rate
        start = position
        for block in pcm_blocks(data, rate=rate):
            position += block.size / rate
            yield block
        if cues is not None:
            cues.append(Cue(start=start, end=position, text=chunk.text))


def book_rate(plan: BookPlan, *, ctx: BookContext) -> int:
    if plan.synthesis.sample_rate:
        return plan.synthesis.sample_rate  # a chunk a backend sent at another rate is resampled to it
    return first_sample_rate(chunk_data(plan, plan.chapters[0].chunks[0].key, ctx=ctx))


class Mastered:
    """One chapter's chain: its gain, and a room-tone bed under everything (so it comes out at ROOM_TONE_DB).

    The bed runs under the speech too, as a room's noise does under a voice: Fish's own quiet gaps
    between words are then room tone like the pauses, never digital zeros.
    """

    def __init__(self, *, rate: int, gain_db: float) -> None:
        self.chain = MasteringChain(rate=rate, gain_db=gain_db)
        self.tone = RoomTone(rate=rate, level_db=ROOM_TONE_DB - gain_db)
        self.fed = 0  # samples in: the chain keeps every sample where it was

    def feed(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self.fed += block.size
            yield from self.chain.process(block + self.tone.take(block.size))

    def finish(self) -> Iterator[np.ndarray]:
        yield from self.chain.finish()
