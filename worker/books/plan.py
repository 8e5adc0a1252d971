"""The audiobook contract: a book's plan (chapters → chunks) and the chunk task message.

The producer builds the plan, stores it in S3 beside the outputs (claim check)
and sends one small message per chunk; chapter and book assembly read the plan.
Chunks are content-addressed, so a chunk already rendered is never paid twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from worker import keys
from worker.books.narrated import chunk_starts, replaced_starts
from worker.contract import LexiconRef, Output, QualityCheck, Synthesis, Voice
from worker.text.chunking import split_text
from worker.text.lexicon import Lexicon


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlanChunk(_Strict):
    index: int
    text: str = Field(min_length=1)
    key: str = Field(description="chunks/<content hash>.wav in the output bucket.")
    paragraph_start: bool = Field(description="First chunk of a paragraph: a longer pause goes before it.")
    lexicon: list[str] = Field(default_factory=list, description="The lexicon entries applied in this chunk's text.")
    sentences: list[int] | None = Field(
        None, description="Offsets in `text` where a sentence of the book starts; None: planned before sentences."
    )


class PlanChapter(_Strict):
    index: int
    title: str
    chunks: list[PlanChunk] = Field(min_length=1)
    role: Literal["body", "opening_credits", "closing_credits"] = "body"
    document: str = Field("", description="The EPUB document it was read from (its path in the zip); read-along.")
    first_paragraph: int = Field(0, ge=0, description="Its first paragraph's number among the document's.")


class Pauses(_Strict):
    sentence_seconds: float = Field(0.25, ge=0, le=10, description="Between chunks of one paragraph.")
    paragraph_seconds: float = Field(0.7, ge=0, le=10)
    chapter_seconds: float = Field(2.0, ge=0, le=30)
    # Room tone that opens and closes every file (ACX: 0.5-1 s at the head, 1-5 s at the tail).
    head_seconds: float = Field(0.75, ge=0, le=5)
    tail_seconds: float = Field(2.0, ge=0, le=10)


class BookPlan(_Strict):
    schema_version: int = 1
    book_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    title: str
    author: str = ""
    language: str = ""
    source: str = ""
    cover_key: str | None = None
    cover_type: str = ""
    voice: Voice
    output: Output
    fish_model: str
    pauses: Pauses = Pauses()
    target_rms_db: float = -20.0
    preset: str = Field("standard", description="How the audio is made for where it goes (worker.books.presets).")
    synthesis: Synthesis = Synthesis()  # asked of Fish for every chunk; its sample rate is every file's
    lexicons: list[LexiconRef] = Field(
        default_factory=list, description="Applied to every chapter's text before it was chunked."
    )
    bit_rate: int | None = Field(None, description="Chapter files' bit rate; None: the format's default.")
    retail_sample_seconds: tuple[float, float] | None = Field(
        None,
        description="A sample file of this many seconds (at least, at most) from the start of the first body chapter.",
    )
    notify_url: str | None = None
    qc: QualityCheck = Field(QualityCheck(), description="Proof-listening of every chunk; books from before: off.")
    read_along: str | None = Field(
        None, description="The book's text with its sentences marked (an EPUB 3 key): readalong.epub is made of it."
    )
    submitted_at: datetime
    chapters: list[PlanChapter] = Field(min_length=1)

    @property
    def chunk_count(self) -> int:
        return sum(len(chapter.chunks) for chapter in self.chapters)

    @property
    def text_bytes(self) -> int:
        return sum(len(c.text.encode()) for chapter in self.chapters for c in chapter.chunks)


class ChunkMessage(_Strict):
    """One `narrate.book.chunk` task: render `text` to `key` unless it is there already."""

    book_id: str = Field(pattern=r"^[0-9a-f]{32}$")
    bucket: str
    prefix: str
    chapter: int
    index: int
    text: str = Field(min_length=1)
    key: str
    voice: Voice
    synthesis: Synthesis = Synthesis()


def voice_identity(voice: Voice) -> str:
    return voice.reference_hash if voice.mode == "clips" else voice.reference_id  # type: ignore[union-attr]


def plan_chapter(
    *,
    index: int,
    title: str,
    text: str,
    voice: Voice,
    model: str,
    max_bytes: int,
    synthesis: Synthesis = Synthesis(),
    role: str = "body",
    lexicon: Lexicon | None = None,
    language: str = "",
    document: str = "",
    first_paragraph: int = 0,
) -> PlanChapter:
    """Chunks of one chapter: each paragraph split on its own, so pauses land between paragraphs.

    The lexicon applies first; a chunk's address covers the text Fish receives. Each chunk records where the
    book's sentences (as written, in `language`) start in it, for sentence timings and read-along.
    """
    identity = voice_identity(voice)
    lexicon = lexicon or Lexicon()
    replaced = lexicon.apply(text)
    originals = [p for p in text.split("\n\n") if p.strip()]
    paragraphs = [p for p in replaced.text.split("\n\n") if p.strip()]
    if len(originals) != len(paragraphs):  # an entry made or joined paragraphs: sentences of the text Fish is given
        originals = paragraphs
    pieces: list[tuple[str, bool, list[int]]] = []
    for original, paragraph in zip(originals, paragraphs):
        cut = split_text(paragraph, max_bytes=max_bytes)
        starts = replaced_starts(original, paragraph, lexicon=lexicon, language=language)
        pieces += [(piece, n == 0, at) for n, (piece, at) in enumerate(zip(cut, chunk_starts(cut, paragraph, starts)))]
    applied = replaced.entries_in([piece for piece, *_ in pieces]) if replaced.spans else [[] for _ in pieces]
    chunks = [
        PlanChunk(
            index=number,
            text=piece,
            paragraph_start=starts,
            lexicon=entries,
            sentences=sentences,
            key=keys.chunk_audio(keys.chunk_hash(piece, voice=identity, model=model, synthesis=synthesis.address())),
        )
        for number, ((piece, starts, sentences), entries) in enumerate(zip(pieces, applied))
    ]
    return PlanChapter(
        index=index,
        title=title,
        chunks=chunks,
        role=role,  # type: ignore[arg-type]
        document=document,
        first_paragraph=first_paragraph,
    )


def chunk_messages(plan: BookPlan) -> list[ChunkMessage]:
    return [
        ChunkMessage(
            book_id=plan.book_id,
            bucket=plan.output.bucket,
            prefix=plan.output.prefix,
            chapter=chapter.index,
            index=chunk.index,
            text=chunk.text,
            key=chunk.key,
            voice=plan.voice,
            synthesis=plan.synthesis,
        )
        for chapter in plan.chapters
        for chunk in chapter.chunks
    ]
