"""What a book's chapters must be.

Credits of their own, no chapter past the store's length limit, none too big to assemble.
"""

from __future__ import annotations

from dataclasses import replace

from producer.readers.booktext import BookText, ChapterText
from worker.books.plan import BookPlan
from worker.errors import BadInput

CHARACTERS_PER_SECOND = 15.0  # narration speed, for estimates before anything is rendered
# Splitting goes by estimated length, so it aims under the limit: speech runs faster or slower than the estimate.
SPLIT_MARGIN = 0.8
# Fish's highest rate for WAV, which chunks are fetched as: a book that asks for no rate gets at most this.
HIGHEST_CHUNK_RATE = 44_100


def estimated_seconds(text: str, *, speed: float = 1.0) -> float:
    return len(text) / (CHARACTERS_PER_SECOND * speed)


def split_long_chapters(chapters: list[ChapterText], *, max_minutes: float, speed: float = 1.0) -> list[ChapterText]:
    """Each chapter longer than `max_minutes` (estimated) as parts cut at paragraph boundaries: "Title (part 2)", …"""
    budget = max_minutes * 60 * SPLIT_MARGIN
    out: list[ChapterText] = []
    for chapter in chapters:
        parts: list[list[str]] = [[]]
        for paragraph in chapter.text.split("\n\n"):
            if parts[-1] and estimated_seconds("\n\n".join([*parts[-1], paragraph]), speed=speed) > budget:
                parts.append([])
            parts[-1].append(paragraph)
        first = chapter.first_paragraph  # parts are paragraph ranges of one document
        for number, paragraphs in enumerate(parts, start=1):
            title = chapter.title if number == 1 else f"{chapter.title} (part {number})"
            out.append(replace(chapter, title=title, text="\n\n".join(paragraphs), first_paragraph=first))
            first += len(paragraphs)
    return out


def credits_for(book: BookText, *, narrator: str) -> tuple[ChapterText, ChapterText]:
    """Opening credits (title, author, narrator) and closing credits, spoken in the book's voice."""
    by = f"\n\nWritten by {book.author}." if book.author else ""
    narrated = f"\n\nNarrated by {narrator}." if narrator else ""
    return ChapterText("Opening credits", f"{book.title}.{by}{narrated}"), ChapterText(
        "Closing credits", f"The end.\n\n{book.title}.{by}"
    )


def check_spool_fits(plan: BookPlan, *, limit_bytes: int) -> None:
    """Refuse, before anything is paid for, a chapter whose assembly would fill more local disk than `limit_bytes`.

    Its length is estimated from its text's bytes (a character of a non-Latin script takes more bytes and, spoken,
    about as much more time), then taken as long as speech slower than the estimate would make it.
    """
    from worker.books.spool import spool_bytes  # imported when used: it brings numpy, which text jobs need not

    rate = plan.synthesis.sample_rate or HIGHEST_CHUNK_RATE
    speed = plan.synthesis.speed or 1.0
    sample = plan.retail_sample_seconds[1] if plan.retail_sample_seconds else 0.0
    for chapter in plan.chapters:
        text_bytes = sum(len(c.text.encode()) for c in chapter.chunks)
        seconds = text_bytes / (CHARACTERS_PER_SECOND * speed) / SPLIT_MARGIN
        need = spool_bytes(
            seconds=seconds, rate=rate, fmt=plan.output.format, bit_rate=plan.bit_rate, sample_seconds=sample
        )
        if need > limit_bytes:
            raise BadInput(
                f"chapter {chapter.index + 1} ({chapter.title!r}) may run to {seconds / 3600:.1f} hours of audio"
                f" ({text_bytes:,} bytes of text); assembling it needs about {need / 1e9:.1f} GB of local disk, over"
                f" NARRATE_SPOOL_LIMIT_BYTES ({limit_bytes / 1e9:.1f} GB): split the chapter (or choose a preset that"
                " splits long chapters), or raise the limit with the assembly workers' disk. Nothing was submitted."
            )
