"""Every narrated sentence of a chapter and when it is said, from the words heard in each chunk's chosen take.

Assembly knows where each chunk starts (its cue, counted from the chapter's first word); the chunk's chosen take
was heard with word times (worker.takes), and those words are aligned with the chunk's text
(worker.hearing.timing). A sentence cut across two chunks starts in the first and ends in the second. A chunk
never heard (proof-listening off, or a take under a second) has its sentences spread over its audio by letters,
marked as not placed.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.books.context import BookContext
from worker.books.plan import BookPlan, PlanChunk
from worker.books.subtitles import Cue
from worker.hearing import Transcript
from worker.hearing.timing import Timed, span_times
from worker.jobs.lexicons import job_lexicon
from worker.support.readahead import read_ahead
from worker.takes import record
from worker.takes.listen import replacements
from worker.text.sentences import sentence_spans

_READS = 4  # takes records fetched at once


@dataclass(frozen=True)
class SentenceTime:
    """Sentence `sentence` (from 0) of paragraph `paragraph` (from 0, among its document's), and its times in
    seconds from the chapter's first word; `placed` False when the recognizer did not place both its ends."""

    paragraph: int
    sentence: int
    text: str  # as the voice was given it (the lexicon applied)
    start: float
    end: float
    placed: bool

    def to_json(self) -> dict:
        return {
            "paragraph": self.paragraph,
            "sentence": self.sentence,
            "text": self.text,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "placed": self.placed,
        }

    @classmethod
    def from_json(cls, data: dict) -> SentenceTime:
        return cls(**data)


def chapter_sentences(plan: BookPlan, chapter_index: int, *, cues: list[Cue], ctx: BookContext) -> list[SentenceTime]:
    """The chapter's sentences in reading order, timed; `cues` are its chunks' (chapter_pcm fills them)."""
    chapter = plan.chapters[chapter_index]
    pairs = _lexicon_pairs(plan, chapter.chunks, ctx=ctx)
    out: list[SentenceTime] = []
    paragraph = chapter.first_paragraph - 1
    # each chunk's takes record fetched ahead of the one being timed: S3's latency, not the chunk count, adds up
    heard = read_ahead(chapter.chunks, lambda chunk: _heard(plan, chunk, ctx=ctx), ahead=_READS)
    for chunk, cue, transcript in zip(chapter.chunks, cues, heard):
        if chunk.paragraph_start:
            paragraph += 1
        spans, continues = _spans(chunk, language=plan.language)
        times = span_times(
            chunk.text,
            transcript,
            spans,
            seconds=cue.end - cue.start,
            language=plan.language,
            lexicon=pairs.get(chunk.index, ()),
        )
        for number, ((a, b), timed) in enumerate(zip(spans, times)):
            piece = _at(cue, timed)
            last = out[-1] if out else None
            if number == 0 and continues and last is not None and last.paragraph == paragraph:
                out[-1] = SentenceTime(
                    paragraph,
                    last.sentence,
                    f"{last.text} {chunk.text[a:b]}",
                    last.start,
                    piece.end,
                    last.placed and piece.placed,
                )
                continue
            count = last.sentence + 1 if last is not None and last.paragraph == paragraph else 0
            out.append(SentenceTime(paragraph, count, chunk.text[a:b], piece.start, piece.end, piece.placed))
    return out


def _spans(chunk: PlanChunk, *, language: str) -> tuple[list[tuple[int, int]], bool]:
    """The chunk's sentence spans, and whether the first continues a sentence from the chunk before."""
    text = chunk.text
    starts = chunk.sentences if chunk.sentences is not None else [a for a, _ in sentence_spans(text, language=language)]
    continues = not starts or starts[0] > 0
    bounds = ([0] if continues else []) + list(starts)
    spans = []
    for number, start in enumerate(bounds):
        end = bounds[number + 1] if number + 1 < len(bounds) else len(text)
        piece = text[start:end]
        spans.append((start + len(piece) - len(piece.lstrip()), start + len(piece.rstrip())))
    return [(a, b) for a, b in spans if b > a], continues


def _heard(plan: BookPlan, chunk: PlanChunk, *, ctx: BookContext) -> Transcript | None:
    if plan.qc.mode == "off":
        return None
    takes = record.load(ctx.render.storage, plan.output.bucket, chunk.key)
    chosen = takes.chosen_take() if takes is not None else None
    return Transcript.from_json(chosen.heard) if chosen is not None and chosen.heard is not None else None


def _lexicon_pairs(plan: BookPlan, chunks: list[PlanChunk], *, ctx: BookContext) -> dict[int, tuple]:
    if not any(c.lexicon for c in chunks) or plan.qc.mode == "off":
        return {}
    lexicon = job_lexicon(plan.lexicons, bucket=plan.output.bucket, storage=ctx.render.storage)
    return {c.index: replacements(lexicon, c.lexicon) for c in chunks if c.lexicon}


def _at(cue: Cue, timed: Timed) -> Timed:
    """A time in the chunk's take as a time in the chapter."""
    return Timed(cue.start + timed.start, cue.start + timed.end, timed.placed)
