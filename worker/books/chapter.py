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
from worker.books.part import BookPart
from worker.books.pcm import Mastered, book_rate, chapter_pcm, zeros
from worker.books.plan import BookPlan
from worker.books.sample import RetailSample, first_body_chapter
from worker.books.spool import spool_folder
from worker.books.subtitles import Cue

_SCALE = 32767.0  # float samples to the 16-bit spool and back


def assemble_chapter(plan: BookPlan, chapter_index: int, *, ctx: BookContext) -> dict:
    """The chapter file, the retail sample (first body chapter) and the chapter's book part, uploaded; the chapter's
    fields."""
    chapter = plan.chapters[chapter_index]
    rate = book_rate(plan, ctx=ctx)
    fmt, bucket, prefix = plan.output.format, plan.output.bucket, plan.output.prefix
    head, tail, pause = (
        round(seconds * rate)
        for seconds in (plan.pauses.head_seconds, plan.pauses.tail_seconds, plan.pauses.chapter_seconds)
    )
    last = chapter_index == len(plan.chapters) - 1
    # On the way out of a failure (a full disk most of all) nothing stays open: an open file keeps its space when
    # deleted.
    with spool_folder(chapter_index=chapter_index) as folder, contextlib.ExitStack() as opened:
        spool, cues = Path(folder) / "speech.s16", []
        meter, speech = _decode_and_measure(
            plan, chapter_index, rate=rate, ctx=ctx, spool=spool, cues=cues, head=head, tail=tail
        )
        measured = meter.result()
        gain_db = meter.gain_for_rms(target_rms_db=plan.target_rms_db, ceiling_db=CEILING_DB)

        # The join's priming frame is part of the pause: it comes off this chapter's half.
        lead_in = head if chapter_index == 0 else max(0, pause // 2 - FRAME_SAMPLES)
        lead_out = (
            nearest_frames(lead_in + speech + (tail if last else pause - pause // 2), at_least=lead_in + speech)
            - lead_in
            - speech
        )
        pre, post = max(head, lead_in), max(tail, lead_out)

        path = Path(folder) / f"chapter.{fmt}"
        writer = AudioFileWriter(
            path,
            fmt=fmt,
            rate=rate,
            bit_rate=plan.bit_rate,
            metadata={"title": chapter.title, "album": plan.title, "artist": plan.author},
        )
        opened.callback(writer.discard)
        file_meter, part_meter = LoudnessMeter(rate, levels=False), LoudnessMeter(rate, levels=False)
        frames = AacFrames(Path(folder) / "part.aac", rate=rate)
        opened.callback(frames.discard)
        sample = None
        if plan.retail_sample_seconds and chapter_index == first_body_chapter(plan):
            sample = RetailSample(
                Path(folder) / f"sample.{fmt}", plan=plan, rate=rate, cues=cues, head_seconds=plan.pauses.head_seconds
            )
            opened.callback(sample.discard)
        spooled = _spooled(spool, rate=rate)
        opened.callback(spooled.close)
        mastered = Mastered(rate=rate, gain_db=gain_db)
        # Each window's encoder and meter in a thread of its own, beside the chain (numpy and FFmpeg release the GIL).
        with (
            BackgroundWriter(
                [writer.write, *([sample.write] if sample else []), file_meter.add], name="chapter-file"
            ) as file_encoder,
            BackgroundWriter([frames.write, part_meter.add], name="book-part") as part_encoder,
        ):
            windows = _Windows(
                [
                    (pre - head, pre + speech + tail, [file_encoder.write]),
                    (pre - lead_in, pre + speech + lead_out, [part_encoder.write]),
                ]
            )
            for blocks in (iter([zeros(pre)]), spooled, iter([zeros(post)]), None):
                for block in _rebatched(
                    mastered.feed(blocks) if blocks is not None else mastered.finish(), size=int(rate * BLOCK_SECONDS)
                ):
                    windows.send(block)
            file_encoder.close()
            part_encoder.close()
        writer.close()
        frames.close()

        storage, result = ctx.render.storage, {}
        key = keys.book_chapter_audio(prefix, plan.book_id, chapter_index, fmt)
        storage.put_file(bucket, key, str(path), content_type=codec.CONTENT_TYPES[fmt])
        if sample is not None:
            sample.close()
            sample_key = keys.book_retail_sample(prefix, plan.book_id, fmt)
            storage.put_file(
                bucket, sample_key, str(Path(folder) / f"sample.{fmt}"), content_type=codec.CONTENT_TYPES[fmt]
            )
            result = {
                "sample_url": keys.s3_url(bucket, sample_key),
                "sample_seconds": round(sample.seconds, 3),
                "sample_loudness": json.dumps(sample.report()),
            }
        part = BookPart(
            chapter=chapter_index,
            rate=rate,
            config=frames.config,
            sizes=frames.sizes.copy(),
            lead_in=lead_in,
            speech=speech,
            true_peak_db=mastered.chain.true_peak_db,
            cues=cues,
            meter=part_meter.state(),
        )
        part.save(storage, bucket=bucket, prefix=prefix, book_id=plan.book_id, frames=Path(folder) / "part.aac")
    return {
        "title": chapter.title,
        "gain_db": round(gain_db, 3),
        "duration_seconds": round((head + speech + tail) / rate, 3),
        "output_url": keys.s3_url(bucket, key),
        "loudness": json.dumps(
            {
                "measured": acx_report(measured),
                "normalized": acx_report(file_meter.result(), true_peak_db=mastered.chain.true_peak_db),
            }
        ),
        **result,
    }


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

    def __init__(self, windows: list[tuple[int, int, list[Callable[[np.ndarray], None]]]]) -> None:
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
