"""One chapter assembled: decoded once, measured, mastered once, and encoded into its file and its share of the .m4b.

Pass one decodes the chunks (pauses between them), measures the chapter as its
file will hold it, and spools the PCM to a temporary file as 16-bit samples.
Pass two reads the spool through one mastering chain, whose output feeds two
windows of the same stream:

    mastered:  [ pre ][ speech ............................ ][ post ]
    file:         [head][ speech ............................ ][tail]
    book part: [lead-in][ speech ............................ ][lead-out]

The chapter file has the head and tail every file has; the book's share starts
with the book's head (first chapter) or half the pause between chapters (less
the priming frame the join adds), and ends with the other half (or the book's
tail), its length rounded to the nearest whole AAC frame so the parts join with
no padding: each pause is within half a frame (12 ms at 44.1 kHz) of its length. Both windows hold the same
mastered samples, so the .m4b sounds as the chapter files do.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from worker import keys
from worker.audio import codec
from worker.audio.aac import AacFrames, nearest_frames
from worker.audio.acx import acx_report
from worker.audio.assembly import BLOCK_SECONDS, AudioFileWriter
from worker.audio.background import BackgroundWriter
from worker.audio.loudness import LoudnessMeter
from worker.audio.mastering import CEILING_DB
from worker.audio.mp4 import FRAME_SAMPLES
from worker.books.context import BookContext
from worker.books.hearing import chapter_report
from worker.books.part import BookPart
from worker.books.pcm import Mastered, book_rate, chapter_pcm, zeros
from worker.books.plan import BookPlan
from worker.books.sample import RetailSample, first_body_chapter
from worker.books.sentence_times import SentenceTime, chapter_sentences
from worker.books.spool import spool_folder
from worker.books.subtitles import Cue

_SCALE = 32767.0  # float samples to the 16-bit spool and back
_Sink = Callable[[np.ndarray], None]


@dataclass(frozen=True)
class _Layout:
    """Where the chapter's speech sits, in samples: in the mastered stream, its file and its share of the book."""

    head: int  # the file's silence before the speech
    tail: int  # and after it
    lead_in: int  # the book part's silence before the speech
    lead_out: int  # and after it, to the next whole AAC frame
    speech: int

    @property
    def pre(self) -> int:
        return max(self.head, self.lead_in)

    @property
    def post(self) -> int:
        return max(self.tail, self.lead_out)

    def windows(self, file_sinks: list[_Sink], part_sinks: list[_Sink]) -> _Windows:
        pre, speech = self.pre, self.speech
        return _Windows(
            [
                (pre - self.head, pre + speech + self.tail, file_sinks),
                (pre - self.lead_in, pre + speech + self.lead_out, part_sinks),
            ]
        )


def _silences(plan: BookPlan, *, rate: int) -> tuple[int, int, int]:
    """The file's head and tail, and the pause between chapters, in samples."""
    pauses = plan.pauses
    head, tail, pause = (round(s * rate) for s in (pauses.head_seconds, pauses.tail_seconds, pauses.chapter_seconds))
    return head, tail, pause


def _layout(plan: BookPlan, chapter_index: int, *, rate: int, speech: int) -> _Layout:
    head, tail, pause = _silences(plan, rate=rate)
    last = chapter_index == len(plan.chapters) - 1
    # The join's priming frame is part of the pause: it comes off this chapter's half.
    lead_in = head if chapter_index == 0 else max(0, pause // 2 - FRAME_SAMPLES)
    ends = nearest_frames(lead_in + speech + (tail if last else pause - pause // 2), at_least=lead_in + speech)
    return _Layout(head=head, tail=tail, lead_in=lead_in, lead_out=ends - lead_in - speech, speech=speech)


def assemble_chapter(plan: BookPlan, chapter_index: int, *, ctx: BookContext) -> dict:
    """The chapter file, the retail sample (first body chapter) and the chapter's book part, uploaded; the chapter's
    fields."""
    rate = book_rate(plan, ctx=ctx)
    head, tail, _ = _silences(plan, rate=rate)
    # On the way out of a failure (a full disk most of all) nothing stays open: an open file keeps its space when
    # deleted.
    with spool_folder(chapter_index=chapter_index) as folder, contextlib.ExitStack() as opened:
        spool, cues = Path(folder) / "speech.s16", []
        meter, speech = _decode_and_measure(
            plan, chapter_index, rate=rate, ctx=ctx, spool=spool, cues=cues, head=head, tail=tail
        )
        sentences = chapter_sentences(plan, chapter_index, cues=cues, ctx=ctx)
        gain_db = meter.gain_for_rms(target_rms_db=plan.target_rms_db, ceiling_db=CEILING_DB)
        layout = _layout(plan, chapter_index, rate=rate, speech=speech)
        encoded = _Encoded(plan, chapter_index, folder=Path(folder), rate=rate, cues=cues, opened=opened)
        spooled = _spooled(spool, rate=rate)
        opened.callback(spooled.close)
        encoded.run(spooled, layout=layout, mastered=Mastered(rate=rate, gain_db=gain_db))
        fields = encoded.upload(ctx=ctx, layout=layout, sentences=sentences)
    heard = ctx.state.heard(plan.book_id, chapter_index) if plan.qc.mode != "off" else {}
    qc = chapter_report(plan, chapter_index, cues=cues, head_seconds=head / rate, heard=heard)
    return {
        **fields,
        **({"qc": json.dumps(qc)} if qc is not None else {}),
        # each chunk's start and end in the chapter file, for `narrate takes` and the review page
        "chunk_times": json.dumps([[round(head / rate + c.start, 3), round(head / rate + c.end, 3)] for c in cues]),
        "gain_db": round(gain_db, 3),
        "duration_seconds": round((layout.head + speech + layout.tail) / rate, 3),
        "loudness": json.dumps(
            {
                "measured": acx_report(meter.result()),
                "normalized": acx_report(encoded.file_meter.result(), true_peak_db=encoded.true_peak_db),
            }
        ),
    }


class _Encoded:
    """Pass two: the mastered stream encoded into the chapter file (and the retail sample) and the book part."""

    def __init__(
        self,
        plan: BookPlan,
        chapter_index: int,
        *,
        folder: Path,
        rate: int,
        cues: list[Cue],
        opened: contextlib.ExitStack,
    ) -> None:
        self.plan, self.chapter_index, self.folder, self.rate, self.cues = plan, chapter_index, folder, rate, cues
        chapter, fmt = plan.chapters[chapter_index], plan.output.format
        self.path = folder / f"chapter.{fmt}"
        self.writer = AudioFileWriter(
            self.path,
            fmt=fmt,
            rate=rate,
            bit_rate=plan.bit_rate,
            metadata={"title": chapter.title, "album": plan.title, "artist": plan.author},
        )
        opened.callback(self.writer.discard)
        self.file_meter, self.part_meter = LoudnessMeter(rate, levels=False), LoudnessMeter(rate, levels=False)
        self.frames = AacFrames(folder / "part.aac", rate=rate)
        opened.callback(self.frames.discard)
        self.sample: RetailSample | None = None
        if plan.retail_sample_seconds and chapter_index == first_body_chapter(plan):
            self.sample = RetailSample(
                folder / f"sample.{fmt}", plan=plan, rate=rate, cues=cues, head_seconds=plan.pauses.head_seconds
            )
            opened.callback(self.sample.discard)
        self.true_peak_db = 0.0

    def run(self, speech: Iterator[np.ndarray], *, layout: _Layout, mastered: Mastered) -> None:
        file_sinks = [self.writer.write, *([self.sample.write] if self.sample else []), self.file_meter.add]
        # Each window's encoder and meter in a thread of its own, beside the chain (numpy and FFmpeg release the GIL).
        with (
            BackgroundWriter(file_sinks, name="chapter-file") as file_encoder,
            BackgroundWriter([self.frames.write, self.part_meter.add], name="book-part") as part_encoder,
        ):
            windows = layout.windows([file_encoder.write], [part_encoder.write])
            for blocks in (iter([zeros(layout.pre)]), speech, iter([zeros(layout.post)]), None):
                fed = mastered.feed(blocks) if blocks is not None else mastered.finish()
                for block in _rebatched(fed, size=int(self.rate * BLOCK_SECONDS)):
                    windows.send(block)
            file_encoder.close()
            part_encoder.close()
        self.writer.close()
        self.frames.close()
        self.true_peak_db = mastered.chain.true_peak_db

    def upload(self, *, ctx: BookContext, layout: _Layout, sentences: list[SentenceTime]) -> dict:
        """The chapter file, the sample, then the book part (its record last: the book reads parts by it)."""
        plan, storage = self.plan, ctx.render.storage
        fmt, bucket, prefix = plan.output.format, plan.output.bucket, plan.output.prefix
        key = keys.book_chapter_audio(prefix, plan.book_id, self.chapter_index, fmt)
        storage.put_file(bucket, key, str(self.path), content_type=codec.CONTENT_TYPES[fmt])
        fields = {"title": plan.chapters[self.chapter_index].title, "output_url": keys.s3_url(bucket, key)}
        if self.sample is not None:
            self.sample.close()
            sample_key = keys.book_retail_sample(prefix, plan.book_id, fmt)
            storage.put_file(
                bucket, sample_key, str(self.folder / f"sample.{fmt}"), content_type=codec.CONTENT_TYPES[fmt]
            )
            fields |= {
                "sample_url": keys.s3_url(bucket, sample_key),
                "sample_seconds": round(self.sample.seconds, 3),
                "sample_loudness": json.dumps(self.sample.report()),
            }
        part = BookPart(
            chapter=self.chapter_index,
            rate=self.rate,
            config=self.frames.config,
            sizes=self.frames.sizes.copy(),
            lead_in=layout.lead_in,
            speech=layout.speech,
            true_peak_db=self.true_peak_db,
            cues=self.cues,
            meter=self.part_meter.state(),
            sentences=sentences,
        )
        part.save(storage, bucket=bucket, prefix=prefix, book_id=plan.book_id, frames=self.folder / "part.aac")
        return fields


def _decode_and_measure(
    plan: BookPlan,
    chapter_index: int,
    *,
    rate: int,
    ctx: BookContext,
    spool: Path,
    cues: list[Cue],
    head: int,
    tail: int,
) -> tuple[LoudnessMeter, int]:
    """Pass one: the chapter measured as its file will hold it (head and tail included), before mastering; its speech
    spooled."""
    meter = LoudnessMeter(rate)
    meter.add(zeros(head))
    speech = 0
    # The meter in a thread of its own, beside fetching and decoding: this pass is the task's only serial part.
    with spool.open("wb") as out, BackgroundWriter([meter.add], name="chapter-meter") as measuring:
        for block in chapter_pcm(plan, plan.chapters[chapter_index], rate=rate, ctx=ctx, cues=cues):
            measuring.write(block)
            # Through the file object, not ndarray.tofile: a full disk then says ENOSPC rather than a bare short write.
            out.write((np.clip(block, -1.0, 1.0) * _SCALE).round().astype("<i2").data)
            speech += block.size
        measuring.close()
    meter.add(zeros(tail))
    return meter, speech


def _spooled(spool: Path, *, rate: int) -> Iterator[np.ndarray]:
    step = max(1, int(rate * BLOCK_SECONDS))
    with spool.open("rb") as source:
        while True:
            block = np.fromfile(source, dtype="<i2", count=step)
            if block.size == 0:
                return
            yield block.astype(np.float32) / np.float32(_SCALE)


def _rebatched(blocks: Iterator[np.ndarray], *, size: int) -> Iterator[np.ndarray]:
    """The chain's small frames joined into blocks of about `size`: each sink's per-call cost is paid ten times less."""
    pending: list[np.ndarray] = []
    held = 0
    for block in blocks:
        pending.append(block)
        held += block.size
        if held >= size:
            yield np.concatenate(pending)
            pending, held = [], 0
    if pending:
        yield np.concatenate(pending)


class _Windows:
    """Hands each mastered block's overlap with each window, [start, end) in samples, to that window's sinks."""

    def __init__(self, windows: list[tuple[int, int, list[_Sink]]]) -> None:
        self._windows = windows
        self._position = 0

    def send(self, block: np.ndarray) -> None:
        start, end = self._position, self._position + block.size
        for low, high, sinks in self._windows:
            first, stop = max(low, start), min(high, end)
            if first < stop:
                piece = block[first - start : stop - start]
                for sink in sinks:
                    sink(piece)
        self._position = end
