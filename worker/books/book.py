"""The book made from its chapters' parts: the .m4b joined without decoding, its sidecars, and the manifest last.

The .m4b is its index, written here, then the parts' frames, which S3 copies
from the parts into the book (multipart, part copies): the audio never passes
through the worker, so the book takes seconds and no disk, however long it is.

Each chapter task left the chapter's share of the book as AAC frames
(worker.books.part). Joined, part k's first sample lands where the frames
before it end, one priming frame later than its own first frame: the encoder
starts every part with one (worker.audio.aac). The edit list hides the first
part's; the others' fall inside the pause between chapters, whose second half
is a frame shorter to make room for it. Chapter marks are computed from the frame counts, so each falls on the
sample where its chapter's first word starts. The book's loudness report is
its parts' meters merged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from worker import keys
from worker.audio.aac import BOOK_BIT_RATE
from worker.audio.acx import acx_report
from worker.audio.loudness import LoudnessMeter
from worker.audio.mp4 import FRAME_SAMPLES, m4b_layout
from worker.audio.mp4_metadata import Chapter
from worker.audio.scratch import scratch_folder
from worker.books.chapter import assemble_chapter
from worker.books.context import BookContext
from worker.books.cover import book_cover
from worker.books.manifest import book_manifest
from worker.books.overlays import write_read_along
from worker.books.part import BookPart, delete_parts, load_part
from worker.books.plan import BookPlan
from worker.books.sentence_times import SentenceTime
from worker.books.subtitles import Cue, sentence_cues, to_srt, to_vtt
from worker.errors import PermanentError, StorageUnavailable
from worker.storage.multipart import Local, Remote
from worker.support.readahead import read_ahead

M4B_TYPE = "audio/mp4"
_READS = 4  # part records fetched at once


def assemble_book(plan: BookPlan, *, ctx: BookContext) -> dict:
    """The .m4b (chapters, metadata, cover), chapters.json, book.srt/.vtt, and the manifest last."""
    storage, bucket, prefix = ctx.render.storage, plan.output.bucket, plan.output.prefix
    manifest_key = keys.book_manifest(prefix, plan.book_id)
    done = storage.get(bucket, manifest_key)
    if done is not None:
        return json.loads(done)
    book = ctx.state.get(plan.book_id) or {}
    parts = _parts(plan, ctx=ctx)
    timeline = _Timeline.of(plan, parts)
    duration = _write_m4b(plan, parts, chapters=timeline.chapters, ctx=ctx)
    ends = [chapter.start_seconds for chapter in timeline.chapters[1:]] + [duration]
    marks = [(chapter.title, chapter.start_seconds, end) for chapter, end in zip(timeline.chapters, ends)]
    _write_sidecars(plan, marks=marks, timeline=timeline, ctx=ctx)
    write_read_along(plan, sentences=timeline.sentences, ctx=ctx)
    book_report = acx_report(timeline.meter.result(), true_peak_db=max(part.true_peak_db for part in parts))
    book_key = keys.book_audio(prefix, plan.book_id)
    settings = ctx.render.settings
    prices = {
        "asr_price_per_hour": settings.asr_price_per_hour,
        "price_per_million_bytes": settings.price_per_million_bytes,
    }
    manifest = book_manifest(plan, book=book, marks=marks, book_key=book_key, book_report=book_report, prices=prices)
    storage.put(bucket, manifest_key, json.dumps(manifest, indent=2).encode(), content_type="application/json")
    delete_parts(storage, bucket=bucket, prefix=prefix, book_id=plan.book_id, chapters=len(plan.chapters))
    return manifest


def _parts(plan: BookPlan, *, ctx: BookContext) -> list[BookPart]:
    """Every chapter's part record (a missing one made again); their frames stay in S3."""
    loaded = read_ahead(plan.chapters, lambda chapter: _load(plan, chapter.index, ctx=ctx), ahead=_READS)
    parts = [part or _made_again(plan, chapter.index, ctx=ctx) for chapter, part in zip(plan.chapters, loaded)]
    rate, config = parts[0].rate, parts[0].config
    if any((part.rate, part.config) != (rate, config) for part in parts):
        raise PermanentError(f"book {plan.book_id}: its chapters were encoded at different rates; assemble it again")
    return parts


@dataclass
class _Timeline:
    """Where each chapter and each cue falls in the joined book, and the book's loudness, from the parts alone."""

    chapters: list[Chapter]
    cues: list[Cue]  # the subtitles': a sentence a cue (or a chunk a cue, for parts made before sentences)
    meter: LoudnessMeter
    sentences: list[list[dict]] = field(default_factory=list)  # each chapter's, timed in the book and its file

    @classmethod
    def of(cls, plan: BookPlan, parts: list[BookPart]) -> _Timeline:
        rate = parts[0].rate
        timeline, frames = cls([], [], LoudnessMeter(rate, levels=False)), 0
        for chapter, part in zip(plan.chapters, parts):
            speech_start = (frames * FRAME_SAMPLES + part.lead_in) / rate
            timeline.chapters.append(Chapter(chapter.title, 0.0 if chapter.index == 0 else speech_start))
            timeline.cues += [
                cue
                for said in (part.sentences or part.cues)
                for cue in sentence_cues(said.text, said.start + speech_start, said.end + speech_start)
            ]
            head = round(plan.pauses.head_seconds * rate) / rate  # the chapter file's silence before its first word
            timeline.sentences.append([_timed(said, book=speech_start, file=head) for said in part.sentences])
            timeline.meter.merge(part.meter)
            part.meter.clear()  # merged: 166 KB a chapter need not wait for the book to be written
            frames += part.sizes.size
        return timeline


def _timed(said: SentenceTime, *, book: float, file: float) -> dict:
    """A sentence's times in the .m4b (`start`, `end`) and in its chapter file (`file_start`, `file_end`)."""
    return {
        **said.to_json(),
        "start": round(said.start + book, 3),
        "end": round(said.end + book, 3),
        "file_start": round(said.start + file, 3),
        "file_end": round(said.end + file, 3),
    }


def _write_m4b(plan: BookPlan, parts: list[BookPart], *, chapters: list[Chapter], ctx: BookContext) -> float:
    """The index written here, the parts' frames copied by S3 between its head and tail; the book's duration."""
    bucket, prefix = plan.output.bucket, plan.output.prefix
    tags = {
        "title": plan.title,
        "album": plan.title,
        "artist": plan.author,
        "album_artist": plan.author,
        "genre": "Audiobook",
        "encoder": "narrate",
    }
    layout = m4b_layout(
        [part.sizes for part in parts],
        rate=parts[0].rate,
        audio_config=parts[0].config,
        chapters=chapters,
        tags=tags,
        cover=_cover(plan, ctx=ctx),
        bit_rate=BOOK_BIT_RATE,
    )
    with scratch_folder(
        kind="book",
        doing=f"writing the index of book {plan.book_id}",
        fix="free space on the assembly workers' disk; the book is retried",
    ) as folder:
        head, tail = folder / "head", folder / "tail"
        with head.open("wb") as out:
            layout.write_head(out)
        tail.write_bytes(layout.tail)
        frames_of = [
            Remote(keys.book_part(prefix, plan.book_id, part.chapter, "aac"), 0, int(part.sizes.sum(dtype=np.int64)))
            for part in parts
        ]
        book_key = keys.book_audio(prefix, plan.book_id)
        pieces = [Local(head), *frames_of, Local(tail)]
        ctx.render.storage.compose(bucket, book_key, pieces, content_type=M4B_TYPE, scratch=folder)
    return layout.duration


def _write_sidecars(
    plan: BookPlan, *, marks: list[tuple[str, float, float]], timeline: _Timeline, ctx: BookContext
) -> None:
    """chapters.json (each chapter's sentences timed), book.srt and book.vtt beside the .m4b."""
    storage, bucket, prefix = ctx.render.storage, plan.output.bucket, plan.output.prefix
    cues = timeline.cues
    sidecar = {
        "title": plan.title,
        "author": plan.author,
        "chapters": [
            {"index": i, "title": t, "start": round(s, 3), "end": round(e, 3), "sentences": said}
            for i, ((t, s, e), said) in enumerate(zip(marks, timeline.sentences))
        ],
    }
    documents = {
        "json": (json.dumps(sidecar, indent=2), "application/json"),
        "srt": (to_srt(cues), "application/x-subrip"),
        "vtt": (to_vtt(cues), "text/vtt"),
    }
    for kind, (text, content_type) in documents.items():
        storage.put(bucket, keys.book_sidecar(prefix, plan.book_id, kind), text.encode(), content_type=content_type)


def _load(plan: BookPlan, chapter: int, *, ctx: BookContext) -> BookPart | None:
    return load_part(
        ctx.render.storage, bucket=plan.output.bucket, prefix=plan.output.prefix, book_id=plan.book_id, chapter=chapter
    )


def _made_again(plan: BookPlan, chapter: int, *, ctx: BookContext) -> BookPart:
    """A part that is gone (or was never made) is made again here, from the chapter's chunks, one at a time."""
    assemble_chapter(plan, chapter, ctx=ctx)
    part = _load(plan, chapter, ctx=ctx)
    if part is None:
        raise StorageUnavailable(
            f"the book part of chapter {chapter + 1} did not reach s3://{plan.output.bucket}; it will be made again"
        )
    return part


def _cover(plan: BookPlan, *, ctx: BookContext) -> tuple[bytes, str] | None:
    if not plan.cover_key:
        return None
    return book_cover(
        ctx.render.storage,
        bucket=plan.output.bucket,
        key=plan.cover_key,
        cover_type=plan.cover_type,
        limit=ctx.render.settings.cover_max_bytes,
    )
