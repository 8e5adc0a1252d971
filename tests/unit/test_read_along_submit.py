"""What --read-along makes of a book before it is sent: a text book's generated EPUB keeps the chapters left out of
the narration (unnarrated), and the narrated ones are told their documents; chapters an EPUB cannot play refused."""

from __future__ import annotations

import zipfile
from dataclasses import replace
from io import BytesIO

import pytest

from producer.readers.booktext import BookText, ChapterText
from producer.submit.read_along import ReadAlongSource, check_read_along_format, marked_book
from worker.errors import BadInput

WHOLE = BookText(
    "tale.md",
    "Tale",
    "A. Writer",
    "en",
    None,
    "",
    [
        ChapterText("Copyright", "All rights reserved.", matter="copyright"),
        ChapterText("One", "The lamps were lit. The boat left."),
        ChapterText("Two", "Nobody had seen the captain."),
    ],
)


def test_a_generated_epub_keeps_the_front_matter_and_names_the_narrated_chapters_documents() -> None:
    chosen = replace(WHOLE, chapters=WHOLE.chapters[1:])

    book, marked = marked_book(chosen, ReadAlongSource("tale.md", b""), whole=WHOLE)

    with zipfile.ZipFile(BytesIO(marked)) as epub:
        documents = sorted(n for n in epub.namelist() if n.endswith(".xhtml") and "chapter-" in n)
        copyright_page = epub.read(documents[0]).decode()
    assert len(documents) == 3 and "All rights reserved." in copyright_page
    assert [c.document for c in book.chapters] == documents[1:]
    assert [c.title for c in book.chapters] == ["One", "Two"]


@pytest.mark.parametrize("fmt", ["wav", "opus"])
def test_chapters_an_epub_reader_cannot_play_are_refused(fmt: str) -> None:
    with pytest.raises(BadInput, match=f"--read-along puts the chapter audio inside the EPUB.*{fmt}.*--format mp3"):
        check_read_along_format(fmt)
