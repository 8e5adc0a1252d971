import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path

import pytest
from ebooklib import epub

from producer.readers.books import (
    BOOK_SUFFIXES,
    BookText,
    ChapterText,
    decode_text,
    read_book,
)
from worker.errors import BadInput


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x00")  # one scanline: filter byte, one grey pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def html_doc(file_name: str, body: str, *, title: str = "") -> epub.EpubHtml:
    doc = epub.EpubHtml(title=title or file_name, file_name=file_name, lang="en")
    doc.content = f"<html><head><title>{title}</title></head><body>{body}</body></html>"
    return doc


def new_book(title: str = "The Book") -> epub.EpubBook:
    book = epub.EpubBook()
    book.set_identifier("urn:uuid:test-book")
    book.set_title(title)
    return book


def write(book: epub.EpubBook, path: Path) -> str:
    epub.write_epub(str(path), book)
    return str(path)


def three_chapter_book(path: Path) -> str:
    book = new_book()
    book.set_language("en")
    book.add_author("Ada Lovelace")
    book.add_author("Charles Babbage")
    book.set_cover("images/cover.png", tiny_png())  # also adds a text-less cover page
    one = html_doc(
        "text/one.xhtml",
        "<h1>The Beginning</h1><p>It was a <em>dark</em> and stormy night.</p>"
        "<script>alert('no')</script><style>p { color: red }</style>"
        "<div><p>Nested paragraph.</p>Loose “text” in a div.</div>",
    )
    two = html_doc(
        "text/two.xhtml",
        "<h2>The Middle</h2><h3>A scene</h3><ul><li>First item</li><li>Second item</li></ul>"
        "<blockquote>A quote.</blockquote><p>Line one<br/>Line two</p>",
    )
    three = html_doc("text/three.xhtml", "<p>The end.</p>")
    for doc in (one, two, three):
        book.add_item(doc)
    book.toc = [
        epub.Link("text/one.xhtml#start", "The Beginning", "one"),
        (
            epub.Section("Part Two"),
            [epub.Link("text/two.xhtml", "The Middle", "two"), epub.Link("text/three.xhtml", "The End", "three")],
        ),
    ]
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["cover", "nav", one, two, three]
    return write(book, path / "book.epub")


def test_epub_chapters_metadata_and_cover(tmp_path: Path) -> None:
    book = read_book(three_chapter_book(tmp_path))
    assert (book.source, book.title, book.author, book.language) == (
        "book.epub",
        "The Book",
        "Ada Lovelace, Charles Babbage",
        "en",
    )
    assert book.cover == tiny_png() and book.cover_type == "image/png"
    assert book.chapters == [
        ChapterText(
            "The Beginning",
            'It was a dark and stormy night.\n\nNested paragraph.\n\nLoose "text" in a div.',
            document="EPUB/text/one.xhtml",
        ),
        ChapterText(
            "The Middle",
            "A scene\n\nFirst item\n\nSecond item\n\nA quote.\n\nLine one\n\nLine two",
            document="EPUB/text/two.xhtml",
        ),
        ChapterText("The End", "The end.", document="EPUB/text/three.xhtml"),
    ]


def test_epub_without_toc_falls_back_to_headings_then_numbers(tmp_path: Path) -> None:
    book = new_book()
    docs = [
        html_doc("a.xhtml", "<h2>Found Heading</h2><p>Alpha.</p>"),
        html_doc("b.xhtml", "<p>Beta, with no heading.</p>"),
        html_doc("c.xhtml", "<h4>Too deep for a title</h4><p>Gamma.</p>"),
    ]
    for doc in docs:
        book.add_item(doc)
    book.add_item(epub.EpubNav())  # with an empty table of contents
    book.spine = docs
    result = read_book(write(book, tmp_path / "plain.epub"))
    assert [(c.title, c.text) for c in result.chapters] == [
        ("Found Heading", "Alpha."),
        ("Chapter 2", "Beta, with no heading."),
        ("Chapter 3", "Too deep for a title\n\nGamma."),
    ]
    assert (result.author, result.language, result.cover, result.cover_type) == ("", "", None, "")


def test_epub2_ncx_toc_with_sections_fragments_and_quoted_hrefs(tmp_path: Path) -> None:
    book = new_book()
    part = html_doc("text/part.xhtml", "<h1>PART ONE</h1>")
    alpha = html_doc("text/a b.xhtml", "<h1>Alpha Title</h1><p>Alpha text.</p>")
    for doc in (part, alpha):
        book.add_item(doc)
    alpha_link = epub.Link("text/a%20b.xhtml#s1", "alpha title", "a")
    book.toc = [(epub.Section("Part One", href="text/part.xhtml"), [alpha_link])]
    book.add_item(epub.EpubNcx())  # no nav document: the TOC comes from the NCX
    book.spine = [part, alpha]
    chapters = read_book(write(book, tmp_path / "ncx.epub")).chapters
    # A heading equal to its title is not repeated, unless it is all the document says.
    assert chapters == [
        ChapterText("Part One", "PART ONE", document="EPUB/text/part.xhtml"),
        ChapterText("alpha title", "Alpha text.", document="EPUB/text/a b.xhtml"),
    ]


def test_epub_cover_from_opf_meta_and_html_entities(tmp_path: Path) -> None:
    book = new_book()
    picture = epub.EpubImage(uid="pic", file_name="pic.jpg", media_type="image/jpeg", content=b"jpeg bytes")
    book.add_item(picture)
    book.add_metadata(None, "meta", "", OrderedDict([("name", "cover"), ("content", "pic")]))
    # Written as-is: not well-formed XML, so it is read with the HTML parser.
    raw = b"<html><head><script src='x.js'/></head><body><p>caf&eacute;&nbsp;au&nbsp;lait<p>next</body></html>"
    doc = epub.EpubItem(uid="raw", file_name="raw.xhtml", media_type="application/xhtml+xml", content=raw)
    book.add_item(doc)
    book.add_item(epub.EpubNav())
    book.spine = [doc]
    result = read_book(write(book, tmp_path / "meta.epub"))
    assert (result.cover, result.cover_type) == (b"jpeg bytes", "image/jpeg")
    assert result.chapters == [ChapterText("Chapter 1", "café au lait\n\nnext", document="EPUB/raw.xhtml")]


def inject(path: str, name: str, data: str) -> None:
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(name, data)


ENCRYPTION = """<?xml version="1.0"?>
<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"
            xmlns:enc="http://www.w3.org/2001/04/xmlenc#">
  <enc:EncryptedData>
    <enc:EncryptionMethod Algorithm="{algorithm}"/>
    <enc:CipherData><enc:CipherReference URI="EPUB/{target}"/></enc:CipherData>
  </enc:EncryptedData>
</encryption>"""


def test_drm_protected_epub_is_refused(tmp_path: Path) -> None:
    path = three_chapter_book(tmp_path)
    inject(
        path,
        "META-INF/encryption.xml",
        ENCRYPTION.format(algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc", target="text/one.xhtml"),
    )
    with pytest.raises(BadInput, match=r"book\.epub: is DRM-protected \(META-INF/encryption\.xml\).*DRM-free copy"):
        read_book(path)


@pytest.mark.parametrize("algorithm", ["http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"])
def test_font_obfuscation_is_not_drm(tmp_path: Path, algorithm: str) -> None:
    path = three_chapter_book(tmp_path)
    inject(path, "META-INF/encryption.xml", ENCRYPTION.format(algorithm=algorithm, target="fonts/serif.otf"))
    assert len(read_book(path).chapters) == 3


def test_corrupt_and_non_epub_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "junk.epub").write_bytes(b"this is not a zip archive")
    with pytest.raises(BadInput, match=r"junk\.epub: is not a readable EPUB \(not a valid zip archive"):
        read_book(str(tmp_path / "junk.epub"))
    with zipfile.ZipFile(tmp_path / "other.epub", "w") as archive:
        archive.writestr("readme.txt", "a zip, but not an EPUB")
    with pytest.raises(BadInput, match=r"other\.epub: is not a readable EPUB \("):
        read_book(str(tmp_path / "other.epub"))
    truncated = Path(three_chapter_book(tmp_path)).read_bytes()[:300]
    (tmp_path / "cut.epub").write_bytes(truncated)
    with pytest.raises(BadInput, match="not a readable EPUB"):
        read_book(str(tmp_path / "cut.epub"))


def test_empty_chapter_in_toc_is_refused_but_textless_pages_are_skipped(tmp_path: Path) -> None:
    book = new_book()
    title_page = html_doc("title.xhtml", "<img src='x.png' alt='logo'/>")
    empty = html_doc("empty.xhtml", "<p> </p>")
    full = html_doc("full.xhtml", "<p>Words.</p>")
    for doc in (title_page, empty, full):
        book.add_item(doc)
    book.toc = [epub.Link("empty.xhtml", "Lost Chapter", "lost"), epub.Link("full.xhtml", "Found", "found")]
    book.add_item(epub.EpubNav())
    book.spine = [title_page, empty, full]
    with pytest.raises(BadInput, match=r"empty\.epub: chapter 'Lost Chapter' is empty"):
        read_book(write(book, tmp_path / "empty.epub"))
    book.toc = [epub.Link("full.xhtml", "Found", "found")]
    assert [c.title for c in read_book(write(book, tmp_path / "skip.epub")).chapters] == ["Found"]


def test_epub_without_any_text_is_refused(tmp_path: Path) -> None:
    book = new_book()
    doc = html_doc("pic.xhtml", "<img src='x.png' alt='a picture'/>")
    book.add_item(doc)
    book.add_item(epub.EpubNav())
    book.spine = [doc]
    with pytest.raises(BadInput, match=r"pics\.epub: has no text"):
        read_book(write(book, tmp_path / "pics.epub"))


# --- plain text -----------------------------------------------------------------------------------


def test_txt_is_one_chapter_named_after_the_file(tmp_path: Path) -> None:
    file = tmp_path / "My Story.txt"
    file.write_bytes("\ufeffOnce upon a time,\nthere was “a” fox.\r\n\r\nThe end.".encode())
    assert read_book(str(file)) == BookText(
        source="My Story.txt",
        title="My Story",
        author="",
        language="",
        cover=None,
        cover_type="",
        chapters=[ChapterText("My Story", 'Once upon a time, there was "a" fox.\n\nThe end.')],
    )


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_with_bom_is_accepted(tmp_path: Path, encoding: str) -> None:
    bom = {"utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}.get(encoding, b"")
    (tmp_path / "wide.text").write_bytes(bom + "Grüße aus Köln.".encode(encoding))
    assert read_book(str(tmp_path / "wide.text")).chapters[0].text == "Grüße aus Köln."


def test_bad_text_encodings_are_explained(tmp_path: Path) -> None:
    (tmp_path / "latin.txt").write_bytes("Déjà vu".encode("latin-1"))
    with pytest.raises(BadInput, match=r"latin\.txt: not UTF-8 text \(invalid byte at offset 1\).*iconv"):
        read_book(str(tmp_path / "latin.txt"))
    with pytest.raises(BadInput, match=r"offset 6\)"):
        decode_text(b"\xef\xbb\xbfabc\xff", "bom.txt")  # the offset counts the BOM
    with pytest.raises(BadInput, match="NUL"):
        decode_text("no BOM".encode("utf-16-le"), "wide.txt")


@pytest.mark.parametrize("content", [b"", b"  \n\t\n", "😀 \u200b".encode()])
def test_text_without_speakable_words_is_refused(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "blank.txt").write_bytes(content)
    with pytest.raises(BadInput, match=r"blank\.txt: has no speakable text"):
        read_book(str(tmp_path / "blank.txt"))


def test_missing_directory_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="nope.epub: no such file"):
        read_book(str(tmp_path / "nope.epub"))
    with pytest.raises(BadInput, match="is a directory"):
        read_book(str(tmp_path))
    (tmp_path / "book.pdf").write_bytes(b"%PDF")
    with pytest.raises(BadInput, match=r"unsupported book type '\.pdf'.*\.epub"):
        read_book(str(tmp_path / "book.pdf"))
    assert BOOK_SUFFIXES == (".txt", ".text", ".md", ".markdown", ".epub")


# --- Markdown -------------------------------------------------------------------------------------


def read_md(tmp_path: Path, text: str, name: str = "notes.md") -> BookText:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return read_book(str(tmp_path / name))


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        (
            "Some *em*, _em_, **strong**, __strong__, ***both*** and ~~gone~~ marks.",
            "Some em, em, strong, strong, both and gone marks.",
        ),
        ("Keep snake_case_names and 2 * 3 as they are.", "Keep snake_case_names and 2 * 3 as they are."),
        ("Run `make *all*` now.", "Run make *all* now."),
        (
            "See [the docs](https://example.com/docs) or [this][ref].\n\n[ref]: https://example.com",
            "See the docs or this.",
        ),
        ("A picture ![alt text](pic.png) here.", "A picture here."),
        ("Some <b>bold</b> HTML<br>and <https://example.com> links.", "Some bold HTML and links."),
        ("Before.\n\n```python\nprint('code')\n```\n\nAfter.", "Before.\n\nAfter."),
        ("Before.\n\n~~~~\n~~~\nstill code\n~~~~\nAfter.", "Before.\n\nAfter."),
        (
            "- one\n- two\n  continued\n* three\n1. four\n2) five\n- [x] done",
            "one\n\ntwo continued\n\nthree\n\nfour\n\nfive\n\ndone",
        ),
        (
            "> quoted\n> > deeper\n\nplain",
            "quoted\n\ndeeper\n\nplain",
        ),  # CommonMark: the nested quote is a paragraph of its own
        ("above\n\n---\n\n* * *\n___\nbelow", "above\n\nbelow"),
        ("Escaped \\*stars\\* and \\# hash.", "Escaped *stars* and # hash."),
        ("Text <!-- hidden\ncomment --> shown.", "Text shown."),
        ("#### Small heading\nBody.", "Small heading\n\nBody."),
    ],
)
def test_markdown_syntax_is_stripped(tmp_path: Path, markdown: str, expected: str) -> None:
    book = read_md(tmp_path, markdown)
    assert [(c.title, c.text) for c in book.chapters] == [("notes", expected)]


def test_markdown_chapters_title_and_introduction(tmp_path: Path) -> None:
    book = read_md(tmp_path, "# The *Great* Book\n\nA short preface.\n\n## One ##\nFirst.\n\n### Two\nSecond.\n")
    assert book.title == "The Great Book"
    assert [(c.title, c.text) for c in book.chapters] == [
        ("Introduction", "A short preface."),
        ("One", "First."),
        ("Two", "Second."),
    ]


def test_markdown_with_several_top_headings_uses_them_as_chapters(tmp_path: Path) -> None:
    book = read_md(tmp_path, "# Chapter 1\nAlpha.\n\n# Chapter 2\nBeta.\n", name="tale.markdown")
    assert book.title == "tale"
    assert [c.title for c in book.chapters] == ["Chapter 1", "Chapter 2"]


def test_markdown_front_matter(tmp_path: Path) -> None:
    text = "---\ntitle: Field Notes\nauthor: [Ann, Bob]\nlang: en\n---\n# Ignored Heading\n\n## Day 1\nRain.\n"
    book = read_md(tmp_path, text)
    assert (book.title, book.author, book.language) == ("Field Notes", "Ann, Bob", "en")
    assert [(c.title, c.text) for c in book.chapters] == [("Day 1", "Rain.")]
    with pytest.raises(BadInput, match=r"notes\.md: the front matter .* not valid YAML near line 3"):
        read_md(tmp_path, "---\ntitle: ok\nauthor: [unclosed\n---\nText.\n")


def test_markdown_without_headings_is_one_chapter(tmp_path: Path) -> None:
    book = read_md(tmp_path, "---\n\nJust text after a rule.\n")
    assert (book.title, [(c.title, c.text) for c in book.chapters]) == ("notes", [("notes", "Just text after a rule.")])


def test_markdown_empty_chapter_names_heading_and_line(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"notes\.md: chapter 'Empty One' \(line 5\) has no text.*remove the heading"):
        read_md(tmp_path, "# Book\n\n## Full\nText.\n## Empty One\n\n```\ncode only\n```\n## Last\nMore.\n")
