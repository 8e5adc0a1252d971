"""The chapters-of-text form every book reader produces, and the checks the readers share."""

from __future__ import annotations

from dataclasses import dataclass

from worker.errors import BadInput
from worker.text.normalize import normalize_text


@dataclass(frozen=True)
class ChapterText:
    title: str
    text: str  # normalized with worker.text.normalize.normalize_text, paragraphs separated by "\n\n"
    matter: str = ""  # why it is front or back matter (not narrated unless asked for); "" for the body
    document: str = ""  # the EPUB document it came from, its path inside the zip ("EPUB/c1.xhtml"); "" otherwise
    first_paragraph: int = 0  # the index of its first paragraph among its document's narrated paragraphs


@dataclass(frozen=True)
class BookText:
    source: str  # the file name
    title: str
    author: str  # "" when unknown
    language: str  # "" when unknown
    cover: bytes | None  # image bytes when the book has a cover
    cover_type: str  # e.g. "image/jpeg", "" when no cover
    chapters: list[ChapterText]


def required_text(text: str, name: str) -> str:
    """`text` unchanged, or BadInput when it is empty: a book with nothing to say is a wrong file."""
    if not text:
        raise BadInput(f"{name}: has no speakable text; nothing to narrate, check that it is the right file")
    return text


def one_line(text: str) -> str:
    """Normalized text on a single line, for titles, authors and other metadata."""
    return " ".join(normalize_text(text).split())
