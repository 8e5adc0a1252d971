"""EPUBs built in the tests with ebooklib: no binary fixtures in the repository."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from ebooklib import epub


def cover_jpeg(size: int = 32) -> bytes:
    """A small real JPEG, encoded with PyAV."""
    context = av.CodecContext.create("mjpeg", "w")
    context.width = context.height = size
    context.pix_fmt = "yuvj420p"
    context.time_base = Fraction(1, 25)
    frame = av.VideoFrame.from_ndarray(
        np.full((size, size, 3), (40, 90, 160), dtype=np.uint8), format="rgb24"
    ).reformat(format="yuvj420p")
    return b"".join(bytes(p) for p in context.encode(frame)) + b"".join(bytes(p) for p in context.encode(None))


def write_epub(
    path: Path,
    *,
    title: str,
    author: str,
    chapters: list[tuple[str, list[str]]],
    cover: bool = True,
    headings: bool = True,
) -> Path:
    """A valid EPUB 3: one XHTML document per chapter (title, paragraphs), a TOC, a nav, optionally a cover."""
    book = epub.EpubBook()
    book.set_identifier(f"narrate-test-{abs(hash((title, author))) % 10**8}")
    book.set_title(title)
    book.set_language("en")
    book.add_author(author)
    if cover:
        book.set_cover("cover.jpg", cover_jpeg())
    documents = []
    for number, (chapter_title, paragraphs) in enumerate(chapters, start=1):
        document = epub.EpubHtml(title=chapter_title, file_name=f"chapter-{number}.xhtml", lang="en")
        body = "".join(f"<p>{p}</p>" for p in paragraphs)
        heading = f"<h1>{chapter_title}</h1>" if headings else ""
        document.content = f"<html><body>{heading}{body}</body></html>"
        book.add_item(document)
        documents.append(document)
    book.toc = documents
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *documents]
    epub.write_epub(str(path), book)
    return path


def fable(path: Path) -> Path:
    """Three short chapters, two paragraphs each."""
    return write_epub(
        path,
        title="The North Wind and the Sun",
        author="Aesop",
        chapters=[
            (
                "The Wager",
                [
                    "The North Wind and the Sun disputed which was the stronger.",
                    "They agreed that whoever made a traveller take off his cloak would win.",
                ],
            ),
            ("The Wind", ["The Wind blew as hard as he could.", "The traveller only wrapped his cloak more closely."]),
            ("The Sun", ["Then the Sun shone out warmly.", "The traveller took off his cloak, and the Sun won."]),
        ],
    )


__all__ = ["cover_jpeg", "fable", "write_epub"]
