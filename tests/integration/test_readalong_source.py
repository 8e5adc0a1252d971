"""Read-along marking of real books: the IDPF's "Children's Literature" (an EPUB 3 nobody here wrote), an EPUB 2
made as older tools made them, and a generated EPUB from a Markdown book; EPUBCheck passes each of them."""

from __future__ import annotations

import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from producer.readalong.generated import generated_epub
from producer.readalong.package import epub_sentences, mark_epub, narrated_paragraphs
from producer.readers.booktext import BookText
from producer.readers.epub import read_epub
from producer.readers.markdown import read_markdown
from tests.support.epub2 import write_epub2
from tests.support.epubcheck import errors
from tests.unit.test_words_cli import childrens_literature
from worker.text.sentences import sentences

NCX_PAGE_TYPE = "{http://www.daisy.org/z3986/2005/ncx/}pageTarget"
MARKDOWN = """# The Fable

A fable, retold.

## The Wager

The North Wind and the Sun disputed which was the stronger. “Let us see,” said the Sun… Mr. Smith agreed.

A traveller came down the road & stopped.

## The End

The Sun won.
"""


def expected_marks(book: BookText) -> dict[str, list[tuple[str, str]]]:
    """Per document, (id, sentence) of each narrated sentence: what the reader and the splitter say."""
    return {
        document: [
            (f"narrate-{p}-{k}", sentence)
            for p, text in sorted(paragraphs.items())
            for k, sentence in enumerate(sentences(text, language=book.language))
        ]
        for document, paragraphs in narrated_paragraphs(book).items()
    }


def entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, BookText, Path]]:
    """Each book: its source, what the reader narrates from it, and its read-along EPUB."""
    folder = tmp_path_factory.mktemp("readalong")
    made = {}
    for name, source in (("sample", childrens_literature()), ("epub2", write_epub2(folder / "fable2.epub"))):
        book = read_epub(source)
        mark_epub(source, book, out=folder / f"{name}-readalong.epub")
        made[name] = (source, book, folder / f"{name}-readalong.epub")
    (folder / "fable.md").write_text(MARKDOWN, encoding="utf-8")
    book = read_markdown(folder / "fable.md", MARKDOWN)
    documents = generated_epub(book, out=folder / "generated.epub", language="en")
    chapters = [replace(c, document=d) for c, d in zip(book.chapters, documents, strict=True)]
    made["generated"] = (folder / "fable.md", replace(book, chapters=chapters), folder / "generated.epub")
    return made


@pytest.fixture(scope="module")
def checked(books) -> dict[str, list[str]]:
    """EPUBCheck's errors about each read-along EPUB, the three checked side by side."""
    with ThreadPoolExecutor(len(books)) as pool:
        return dict(zip(books, pool.map(errors, [out for _, _, out in books.values()]), strict=True))


@pytest.mark.parametrize("name", ["sample", "epub2", "generated"])
def test_every_narrated_sentence_is_marked_in_order_with_its_text(books, name: str) -> None:
    _, book, out = books[name]
    expected = expected_marks(book)
    assert sum(len(marks) for marks in expected.values()) > 5
    assert epub_sentences(out) == expected


def test_the_sample_is_the_publishers_book_but_for_the_marks(books) -> None:
    source, _, out = books["sample"]
    before, after = entries(source), entries(out)
    assert list(after) == list(before), "the same files in the same order"
    changed = sorted(name for name in before if after[name] != before[name])
    assert changed == ["EPUB/s04.xhtml", "EPUB/toc.ncx"]
    document, ncx = (before[changed[0]], after[changed[0]]), (before[changed[1]], after[changed[1]])
    texts = ["".join(etree.fromstring(data).find(".//{*}body").itertext()) for data in document]
    assert texts[0] == texts[1], "the text a reader sees is the publisher's"
    # The NCX's page list used EPUB 3's "body" for its pages; the NCX's own word for them is "normal".
    pages = [[target.get("type") for target in etree.fromstring(data).iter(NCX_PAGE_TYPE)] for data in ncx]
    assert set(pages[0]) == {"body"} and pages[1] == ["normal"] * len(pages[0])


def test_an_epub2_becomes_an_epub3_that_keeps_its_ncx(books) -> None:
    _, _, out = books["epub2"]
    files = entries(out)
    package = etree.fromstring(files["OEBPS/content.opf"])
    assert package.get("version") == "3.0"
    opf = "{http://www.idpf.org/2007/opf}"
    items = {item.get("href"): item for item in package.iter(f"{opf}item")}
    assert items["nav.xhtml"].get("properties") == "nav" and items["text/chapter2.xhtml"].get("properties") == "svg"
    assert items["toc.ncx"] is not None and package.find(f"{opf}spine").get("toc") == "ncx"
    metas = {(m.get("refines"), m.get("property")): m.text for m in package.iter(f"{opf}meta")}
    assert metas[("#creator", "role")] == "aut" and metas[("#creator", "file-as")] == "Aesop"
    assert not [a for e in package.iter() for a in e.attrib if a.startswith(opf)], "no opf: attributes left"
    nav = etree.fromstring(files["OEBPS/nav.xhtml"])
    links = [(a.get("href"), a.text) for a in nav.iter("{http://www.w3.org/1999/xhtml}a")]
    assert links == [("text/chapter%201.xhtml", "The Wager"), ("text/chapter2.xhtml#sun", "The Sun’s turn")]
    assert b"<!DOCTYPE html>" in files["OEBPS/text/title.xhtml"] and b"DOCTYPE" not in files["OEBPS/toc.ncx"]


@pytest.mark.e2e
@pytest.mark.parametrize("name", ["sample", "epub2", "generated"])
def test_epubcheck_passes(checked, name: str) -> None:
    assert checked[name] == []
