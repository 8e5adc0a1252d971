"""Front and back matter in EPUB 2 and EPUB 3 books, and choosing chapters."""

from __future__ import annotations

from pathlib import Path

import pytest
from ebooklib import epub

from producer.readers.books import read_book
from producer.readers.selection import ChapterChoice, choose
from worker.errors import BadInput

BODY = "<p>" + " ".join(["The story goes on and on."] * 30) + "</p>"


def doc(name: str, body: str) -> epub.EpubHtml:
    item = epub.EpubHtml(title=name, file_name=f"text/{name}.xhtml", lang="en")
    item.content = (
        f'<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops">'
        f"<head><title>{name}</title></head><body>{body}</body></html>"
    )
    return item


def book_with(tmp_path: Path, documents: list[epub.EpubHtml], *, guide: list[dict] | None = None) -> str:
    book = epub.EpubBook()
    book.set_identifier("urn:uuid:matter")
    book.set_title("Matter")
    for item in documents:
        book.add_item(item)
    book.toc = [epub.Link(item.file_name, item.title, item.id) for item in documents]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *documents]
    book.guide = guide or []
    path = tmp_path / "matter.epub"
    epub.write_epub(str(path), book)
    return str(path)


def verdicts(path: str) -> dict[str, str]:
    return {c.title: c.matter for c in read_book(path).chapters}


def test_epub3_declared_types_are_matter(tmp_path: Path) -> None:
    path = book_with(
        tmp_path,
        [
            doc("contents", "<nav epub:type='toc'><ol><li>One</li></ol></nav>"),
            doc(
                "rights",
                "<section epub:type='copyright-page'><p>Rights belong to someone; a long page otherwise.</p>"
                + BODY
                + "</section>",
            ),
            doc("one", BODY),
            doc("index", "<section epub:type='index'><p>apples, 3; pears, 7</p></section>"),
        ],
    )
    found = verdicts(path)
    assert found["contents"].startswith("table of contents (epub:type toc)")
    assert found["rights"].startswith("copyright page (epub:type copyright-page)")
    assert found["index"].startswith("index (epub:type index)")
    assert found["one"] == ""


def test_epub2_guide_types_are_matter(tmp_path: Path) -> None:
    path = book_with(
        tmp_path,
        [doc("toc2", "<p>Chapter list as plain text</p>"), doc("one", BODY)],
        guide=[{"href": "text/toc2.xhtml", "title": "Contents", "type": "toc"}],
    )
    assert verdicts(path) == {"toc2": "table of contents (guide type toc)", "one": ""}


def test_an_unmarked_page_of_links_and_a_short_copyright_page_are_matter(tmp_path: Path) -> None:
    links = "".join(f'<p><a href="one.xhtml#s{n}">Section {n} of the book</a></p>' for n in range(8))
    path = book_with(
        tmp_path,
        [
            doc("links", "<h1>Contents</h1>" + links),
            doc("title", "<h1>My Book</h1><p>Copyright © 2024 A. Writer</p>"),
            doc("one", BODY + '<p>See <a href="https://example.org">the site</a> and <a href="#x">a note</a>.</p>'),
        ],
    )
    found = verdicts(path)
    assert found["links"].startswith("mostly links")
    assert found["title"].startswith("copyright page")
    assert found["one"] == "", "a chapter with a few links is still a chapter"


def test_matter_is_left_out_unless_asked_for(tmp_path: Path) -> None:
    book = read_book(
        book_with(
            tmp_path, [doc("contents", "<nav epub:type='toc'><p>x</p></nav>"), doc("one", BODY), doc("two", BODY)]
        )
    )
    assert [c.title for c in choose(book, ChapterChoice()).chapters] == ["one", "two"]
    assert [c.title for c in choose(book, ChapterChoice(include_front_matter=True)).chapters] == [
        "contents",
        "one",
        "two",
    ]
    assert [c.title for c in choose(book, ChapterChoice.parse("1,3")).chapters] == ["contents", "two"]
    with pytest.raises(BadInput, match="past its last chapter"):
        choose(book, ChapterChoice.parse("2-4"))


@pytest.mark.parametrize("spec", ["", "0", "3-1", "a", "1,,2", "1-"])
def test_bad_chapter_lists_are_refused(spec: str) -> None:
    with pytest.raises(BadInput, match="--chapters"):
        ChapterChoice.parse(spec)


def test_chapter_lists_parse() -> None:
    assert ChapterChoice.parse(" 1-3, 7 ").numbers == {1, 2, 3, 7}
