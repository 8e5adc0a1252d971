"""What a store-ready book adds to its chapters: credits of their own, and no chapter past the store's length limit."""

from __future__ import annotations

from dataclasses import replace

from producer.readers.booktext import BookText, ChapterText

CHARACTERS_PER_SECOND = 15.0  # narration speed, for estimates before anything is rendered
# Splitting goes by estimated length, so it aims under the limit: speech runs faster or slower than the estimate.
SPLIT_MARGIN = 0.8


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
        for number, paragraphs in enumerate(parts, start=1):
            title = chapter.title if number == 1 else f"{chapter.title} (part {number})"
            out.append(replace(chapter, title=title, text="\n\n".join(paragraphs)))
    return out


def credits_for(book: BookText, *, narrator: str) -> tuple[ChapterText, ChapterText]:
    """Opening credits (title, author, narrator) and closing credits, spoken in the book's voice."""
    by = f"\n\nWritten by {book.author}." if book.author else ""
    narrated = f"\n\nNarrated by {narrator}." if narrator else ""
    return ChapterText("Opening credits", f"{book.title}.{by}{narrated}"), ChapterText("Closing credits", f"The end.\n\n{book.title}.{by}")
