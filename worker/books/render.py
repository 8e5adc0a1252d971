"""Audiobook assembly, one step at a time, no Celery: assemble a chapter, assemble the book.

Chunks (worker.books.chunk) are content-addressed WAVs. Chapters are measured
in one streaming pass over their chunks, then mastered (worker.audio.mastering)
and encoded in a second, with room tone in every pause and at the head and
tail; the book is one more streaming pass through the same chains into an .m4b.
A pass that fails uploads nothing: files go to S3 only once they are whole.
"""

from __future__ import annotations

import json
import tempfile
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from worker import keys
from worker.audio import codec
from worker.audio.assembly import AudioFileWriter, first_sample_rate, pcm_blocks
from worker.audio.loudness import LoudnessMeter, acx_report
from worker.audio.mastering import CEILING_DB, MasteringChain
from worker.audio.roomtone import LEVEL_DB as ROOM_TONE_DB
from worker.audio.roomtone import RoomTone
from worker.books.manifest import book_manifest
from worker.books.plan import BookPlan, PlanChapter
from worker.books.sample import RetailSample, first_body_chapter
from worker.books.state import BookState
from worker.books.subtitles import Cue, to_srt, to_vtt
from worker.errors import PermanentError, StorageUnavailable
from worker.readahead import read_ahead
from worker.voices.speaker import RenderContext

M4B_TYPE = "audio/mp4"
# Chunks fetched ahead of the one being encoded: storage latency overlaps the encoder's work.
READ_AHEAD = 2


@dataclass
class BookContext:
    render: RenderContext
    state: BookState
    plans: OrderedDict[str, BookPlan] = field(default_factory=OrderedDict)

    def plan(self, *, bucket: str, prefix: str, book_id: str) -> BookPlan:
        """The book's plan from S3, kept for a few books per process (plans are immutable)."""
        if book_id in self.plans:
            return self.plans[book_id]
        raw = self.render.storage.get(bucket, keys.book_plan(prefix, book_id))
        if raw is None:
            raise PermanentError(f"the plan of book {book_id} is missing at s3://{bucket}/{keys.book_plan(prefix, book_id)}")
        plan = BookPlan.model_validate_json(raw)
        self.plans[book_id] = plan
        while len(self.plans) > 8:
            self.plans.popitem(last=False)
        return plan


def _chunk_data(plan: BookPlan, key: str, *, ctx: BookContext) -> bytes:
    data = ctx.render.storage.get(plan.output.bucket, key)
    if data is None:
        # Lost between completion and assembly: the reconciler renders it again.
        raise StorageUnavailable(f"chunk s3://{plan.output.bucket}/{key} is missing; it will be rendered again")
    return data


def _zeros(samples: int) -> np.ndarray:
    return np.zeros(samples, dtype=np.float32)


def _chapter_pcm(plan: BookPlan, chapter: PlanChapter, *, rate: int, ctx: BookContext, cues: list[Cue] | None = None,
                 offset: float = 0.0) -> Iterator[np.ndarray]:  # fmt: skip
    """The chapter as mono float blocks at `rate`, pauses included; fills `cues` with chunk times."""
    position = offset
    fetched = read_ahead([chunk.key for chunk in chapter.chunks], lambda key: _chunk_data(plan, key, ctx=ctx), ahead=READ_AHEAD)
    for number, (chunk, data) in enumerate(zip(chapter.chunks, fetched)):
        if number:
            seconds = plan.pauses.paragraph_seconds if chunk.paragraph_start else plan.pauses.sentence_seconds
            yield _zeros(int(round(seconds * rate)))  # the mastering chain lays room tone under it
            position += int(round(seconds * rate)) / rate
        start = position
        for block in pcm_blocks(data, rate=rate):
            position += block.size / rate
            yield block
        if cues is not None:
            cues.append(Cue(start=start, end=position, text=chunk.text))


def _book_rate(plan: BookPlan, *, ctx: BookContext) -> int:
    if plan.synthesis.sample_rate:
        return plan.synthesis.sample_rate  # a chunk a backend sent at another rate is resampled to it
    return first_sample_rate(_chunk_data(plan, plan.chapters[0].chunks[0].key, ctx=ctx))


class _Mastered:
    """One chapter's chain: its gain, a room-tone bed under everything (so it comes out at ROOM_TONE_DB), a meter on the output.

    The bed runs under the speech too, as a room's noise does under a voice: Fish's own quiet gaps
    between words are then room tone like the pauses, never digital zeros.
    """

    def __init__(self, *, rate: int, gain_db: float, measure: bool = True) -> None:
        self.chain = MasteringChain(rate=rate, gain_db=gain_db)
        self.tone = RoomTone(rate=rate, level_db=ROOM_TONE_DB - gain_db)
        self.meter = LoudnessMeter(rate) if measure else None
        self.fed = 0  # samples in, for times: the chain keeps every sample where it was

    def feed(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            self.fed += block.size
            yield from self._measured(self.chain.process(block + self.tone.take(block.size)))

    def finish(self) -> Iterator[np.ndarray]:
        yield from self._measured(self.chain.finish())

    def report(self) -> dict:
        assert self.meter is not None
        return acx_report(self.meter.result(), true_peak_db=self.chain.true_peak_db)

    def _measured(self, blocks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
        for block in blocks:
            if self.meter is not None:
                self.meter.add(block)
            yield block


def _measure_chapter(plan: BookPlan, chapter: PlanChapter, *, rate: int, ctx: BookContext) -> LoudnessMeter:
    """Pass one: the chapter as its file will hold it (head and tail included), before mastering."""
    meter = LoudnessMeter(rate)
    meter.add(_zeros(int(round(plan.pauses.head_seconds * rate))))
    for block in _chapter_pcm(plan, chapter, rate=rate, ctx=ctx):
        meter.add(block)
    meter.add(_zeros(int(round(plan.pauses.tail_seconds * rate))))
    return meter


def assemble_chapter(plan: BookPlan, chapter_index: int, *, ctx: BookContext) -> dict:
    """Measure, master and encode one chapter (and the retail sample from the first body chapter)."""
    chapter = plan.chapters[chapter_index]
    rate = _book_rate(plan, ctx=ctx)
    meter = _measure_chapter(plan, chapter, rate=rate, ctx=ctx)
    measured = meter.result()
    gain_db = meter.gain_for_rms(target_rms_db=plan.target_rms_db, ceiling_db=CEILING_DB)
    fmt, bucket, prefix = plan.output.format, plan.output.bucket, plan.output.prefix
    key = keys.book_chapter_audio(prefix, plan.book_id, chapter_index, fmt)
    mastered = _Mastered(rate=rate, gain_db=gain_db)
    result: dict = {}
    with tempfile.TemporaryDirectory(prefix="narrate-chapter-") as folder:
        path = Path(folder) / f"chapter.{fmt}"
        writer = AudioFileWriter(path, fmt=fmt, rate=rate, bit_rate=plan.bit_rate,
                                 metadata={"title": chapter.title, "album": plan.title, "artist": plan.author})  # fmt: skip
        cues: list[Cue] = []
        sample = None
        if plan.retail_sample_seconds and chapter_index == first_body_chapter(plan):
            sample = RetailSample(Path(folder) / f"sample.{fmt}", plan=plan, rate=rate, cues=cues, head_seconds=plan.pauses.head_seconds)
        head, tail = _zeros(round(plan.pauses.head_seconds * rate)), _zeros(round(plan.pauses.tail_seconds * rate))
        speech = _chapter_pcm(plan, chapter, rate=rate, ctx=ctx, cues=cues)
        for blocks in (iter([head]), speech, iter([tail]), None):
            for block in mastered.feed(blocks) if blocks is not None else mastered.finish():
                writer.write(block)
                if sample is not None:
                    sample.write(block)
        writer.close()
        ctx.render.storage.put_file(bucket, key, str(path), content_type=codec.CONTENT_TYPES[fmt])
        if sample is not None:
            sample.close()
            sample_key = keys.book_retail_sample(prefix, plan.book_id, fmt)
            ctx.render.storage.put_file(bucket, sample_key, str(Path(folder) / f"sample.{fmt}"), content_type=codec.CONTENT_TYPES[fmt])
            result = {"sample_url": keys.s3_url(bucket, sample_key), "sample_seconds": round(sample.seconds, 3),
                      "sample_loudness": json.dumps(sample.report())}  # fmt: skip
    return {
        "title": chapter.title,
        "gain_db": round(gain_db, 3),
        "duration_seconds": round(mastered.fed / rate, 3),
        "output_url": keys.s3_url(bucket, key),
        "loudness": json.dumps({"measured": acx_report(measured), "normalized": mastered.report()}),
        **result,
    }


def assemble_book(plan: BookPlan, *, ctx: BookContext) -> dict:
    """The .m4b (chapters, metadata, cover), chapters.json, book.srt/.vtt, and the manifest last."""
    storage, bucket, prefix = ctx.render.storage, plan.output.bucket, plan.output.prefix
    manifest_key = keys.book_manifest(prefix, plan.book_id)
    done = storage.get(bucket, manifest_key)
    if done is not None:
        return json.loads(done)
    book = ctx.state.get(plan.book_id) or {}
    chapters_state = book.get("chapters", [])
    rate = _book_rate(plan, ctx=ctx)
    cover = _cover(plan, ctx=ctx)
    marks: list[tuple[str, float, float]] = []
    cues: list[Cue] = []
    book_key = keys.book_audio(prefix, plan.book_id)
    with tempfile.TemporaryDirectory(prefix="narrate-book-") as folder:
        path = Path(folder) / "book.m4b"
        metadata = {"title": plan.title, "album": plan.title, "artist": plan.author, "album_artist": plan.author,
                    "genre": "Audiobook", "language": plan.language}  # fmt: skip
        writer = AudioFileWriter(path, fmt="m4b", rate=rate, metadata=metadata, cover=cover)
        position = 0  # samples in, from the start of the book
        last = len(plan.chapters) - 1
        meter, true_peaks = LoudnessMeter(rate), []  # the whole .m4b, for its own report
        for chapter in plan.chapters:
            # The chapter's own gain, so the book sounds as its chapter files do; the pause after it belongs to it.
            gain_db = float(chapters_state[chapter.index].get("gain_db", 0.0)) if chapter.index < len(chapters_state) else 0.0
            mastered = _Mastered(rate=rate, gain_db=gain_db, measure=False)  # the book's own meter measures it whole
            start = position
            head = [_zeros(round(plan.pauses.head_seconds * rate))] if chapter.index == 0 else []
            speech_start = (start + sum(h.size for h in head)) / rate
            after = plan.pauses.tail_seconds if chapter.index == last else plan.pauses.chapter_seconds
            for blocks in (iter(head), _chapter_pcm(plan, chapter, rate=rate, ctx=ctx, cues=cues, offset=speech_start),
                           iter([_zeros(round(after * rate))])):  # fmt: skip
                for block in mastered.feed(blocks):
                    writer.write(block)
                    meter.add(block)
            for block in mastered.finish():
                writer.write(block)
                meter.add(block)
            true_peaks.append(mastered.chain.true_peak_db)
            position += mastered.fed
            marks.append((chapter.title, start / rate, position / rate))
        writer.close(chapters=marks)
        storage.put_file(bucket, book_key, str(path), content_type=M4B_TYPE)
    sidecar = {"title": plan.title, "author": plan.author,
               "chapters": [{"index": i, "title": t, "start": round(s, 3), "end": round(e, 3)} for i, (t, s, e) in enumerate(marks)]}  # fmt: skip
    storage.put(bucket, keys.book_sidecar(prefix, plan.book_id, "json"), json.dumps(sidecar, indent=2).encode(), content_type="application/json")
    storage.put(bucket, keys.book_sidecar(prefix, plan.book_id, "srt"), to_srt(cues).encode(), content_type="application/x-subrip")
    storage.put(bucket, keys.book_sidecar(prefix, plan.book_id, "vtt"), to_vtt(cues).encode(), content_type="text/vtt")
    book_report = acx_report(meter.result(), true_peak_db=max(true_peaks))
    manifest = book_manifest(plan, book=book, marks=marks, book_key=book_key, book_report=book_report)
    storage.put(bucket, manifest_key, json.dumps(manifest, indent=2).encode(), content_type="application/json")
    return manifest


def _cover(plan: BookPlan, *, ctx: BookContext) -> tuple[bytes, str] | None:
    if not plan.cover_key:
        return None
    data = ctx.render.storage.get(plan.output.bucket, plan.cover_key)
    return (data, plan.cover_type) if data else None


