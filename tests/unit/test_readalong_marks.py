"""Read-along marking on awkward real-world markup: each narrated sentence wrapped, the text a reader sees kept."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from lxml import etree

from producer.readalong.archive import xhtml_bytes
from producer.readalong.generated import generated_epub
from producer.readalong.marks import mark_paragraphs, marked_sentences
from producer.readalong.navdoc import repair_page_types
from producer.readalong.package import epub_sentences, mark_epub
from producer.readalong.textmap import origins, raw_span, reader_text
from producer.readers.booktext import BookText, ChapterText
from producer.readers.epub import html_blocks, parse_document, read_epub
from producer.submit.bookparts import split_long_chapters
from tests.support.epubs import write_epub
from worker.errors import BadInput
from worker.text.sentences import sentences

PAGE = '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>t</title></head><body>{}</body></html>'


def visible(root) -> str:
    return "".join(root.itertext())


def mark(body: str, *, page: str = PAGE) -> tuple[str, list[tuple[str, str]], list[tuple[str, str]]]:
    """The marked body, the (id, text) found in it, and the (id, sentence) the reader and the splitter expect."""
    root = parse_document(page.format(body).encode(), name="t.epub", document="t.xhtml")
    blocks = html_blocks(root)
    before = visible(root)
    narrated = {index: block.text for index, block in enumerate(blocks)}
    mark_paragraphs(root, blocks, narrated, language="en", where="t.epub: t.xhtml")
    assert visible(root) == before, "the text a reader sees is unchanged"
    serialized = etree.tostring(root, encoding="unicode")
    expected = [(f"narrate-{p}-{k}", s) for p, text in narrated.items() for k, s in enumerate(sentences(text))]
    body_start = serialized.index("<body>") + len("<body>")
    return serialized[body_start : serialized.index("</body>")], marked_sentences(serialized.encode()), expected


@pytest.mark.parametrize(
    ("body", "marked"),
    [
        (  # a sentence ends inside <em>: the <em> is split there, each part in its sentence
            "<p>He said <em>stop. Now</em> go.</p>",
            '<p><span id="narrate-0-0" class="narrate-sentence">He said <em>stop. </em></span>'
            '<span id="narrate-0-1" class="narrate-sentence"><em>Now</em> go.</span></p>',
        ),
        (  # a footnote reference inside a sentence moves into it, link and all
            '<p>He went.<a id="r1" href="n.xhtml#n1"><sup>1</sup></a> Then home.</p>',
            '<p><span id="narrate-0-0" class="narrate-sentence">He went.<a id="r1" href="n.xhtml#n1"><sup>1</sup>'
            "</a> Then home.</span></p>",
        ),
        (  # <br/> ends a paragraph; an inline element left only whitespace is not split
            "<p>Line one.<br/>Line <em>two. Three</em></p>",
            '<p><span id="narrate-0-0" class="narrate-sentence">Line one.</span><br/>'
            '<span id="narrate-1-0" class="narrate-sentence">Line <em>two.</em></span>'
            '<em> <span id="narrate-1-1" class="narrate-sentence">Three</span></em></p>',
        ),
        (  # nested inline elements split at both levels; an id stays on the first part only
            '<p>A <b id="x">bold <i>nest. Ed</i> went</b> home.</p>',
            '<p><span id="narrate-0-0" class="narrate-sentence">A <b id="x">bold <i>nest. </i></b></span>'
            '<span id="narrate-0-1" class="narrate-sentence"><b><i>Ed</i> went</b> home.</span></p>',
        ),
        (  # a sentence that is a whole element is marked inside it
            "<p><em>Whole.</em> <span><span>Nested one.</span></span></p>",
            '<p><em><span id="narrate-0-0" class="narrate-sentence">Whole.</span></em> <span><span>'
            '<span id="narrate-0-1" class="narrate-sentence">Nested one.</span></span></span></p>',
        ),
        (  # text of a block before and after a nested block: three paragraphs
            "<div>Intro text. <p>Para.</p> Tail text.</div>",
            '<div><span id="narrate-0-0" class="narrate-sentence">Intro text.</span> <p>'
            '<span id="narrate-1-0" class="narrate-sentence">Para.</span></p> '
            '<span id="narrate-2-0" class="narrate-sentence">Tail text.</span></div>',
        ),
    ],
)
def test_sentences_are_wrapped_where_they_lie(body: str, marked: str) -> None:
    serialized, found, expected = mark(body)
    assert serialized == marked
    assert found == expected


@pytest.mark.parametrize(
    "body",
    [
        "<p>“Quote,” she said… Then soft\u00adly went the <i>Sun</i>\u00ad’s rays. Done.</p>",  # curly, …, soft hyphen
        "<p>Mr. Smith went&#160;to <a href='#a'>J. R. R.</a> Tolkien. <span><em>He <b>left</b>.</em> Why?</span></p>",
        "<p>caf\u0065\u0301 ﬁne. A <!-- note --> comment<?pi x?> inside.</p><ul><li>One. Two.</li><li>Three</li></ul>",
        "<p>Before <script>var a = 'no. no.';</script>after. Ruby <ruby>漢<rt>kan</rt></ruby> here.</p>",
        "<p>\n   Spread\n   over  lines.   <em>\n Next\n</em>  one.\n</p>",
        "<p>これは<ruby>漢字<rt>かんじ</rt></ruby>です。次は<ruby>本<rt>ほん</rt></ruby></p>",  # ends inside <ruby>
        '<p><q>Go.</q> Now <a href="#p"><img src="i.png" alt=""/>run</a>.</p>',
    ],
)
def test_marked_text_is_each_sentence_as_narrated(body: str) -> None:
    _, found, expected = mark(body)
    assert found == expected and expected


def test_a_document_read_with_the_html_parser_is_marked_and_written_as_xhtml() -> None:
    page = b"<html><head><title>t</title></head><body epub:type='bodymatter'><p>caf&eacute;&nbsp;au lait."
    page += b" <em>Next&nbsp;one</em>.<p>Last</body></html>"
    root = parse_document(page, name="t.epub", document="t.xhtml")  # not XML: &eacute; is HTML's
    blocks = html_blocks(root)
    mark_paragraphs(root, blocks, {0: blocks[0].text, 1: blocks[1].text}, language="en", where="t")
    written = xhtml_bytes(root)
    xhtml = etree.fromstring(written)  # well-formed XML now
    assert xhtml.tag == "{http://www.w3.org/1999/xhtml}html"
    assert xhtml.find(".//{*}body").get("{http://www.idpf.org/2007/ops}type") == "bodymatter"
    assert marked_sentences(written) == [
        ("narrate-0-0", "café au lait."),
        ("narrate-0-1", "Next one."),
        ("narrate-1-0", "Last"),
    ]


def test_a_sentence_across_an_element_that_cannot_be_split_is_refused_with_the_file_named() -> None:
    with pytest.raises(BadInput, match=r"t\.epub: t\.xhtml: sentence 'Now run\.' cannot be marked.*<q>"):
        mark("<p><q>Go. Now</q> run.</p>")
    with pytest.raises(BadInput, match=r"<text>, where no XHTML element may go"):
        mark('<p><svg xmlns="http://www.w3.org/2000/svg"><text>Drawn words.</text></svg></p>')


def test_a_marked_document_and_a_paragraph_that_was_not_narrated_are_refused() -> None:
    root = parse_document(PAGE.format("<p>One.</p>").encode(), name="b", document="d")
    with pytest.raises(BadInput, match="paragraph 1 is not the text that was narrated"):
        mark_paragraphs(root, html_blocks(root), {0: "Other."}, language="en", where="b: d")
    root = parse_document(PAGE.format('<p id="narrate-0-0">One.</p>').encode(), name="b", document="d")
    with pytest.raises(BadInput, match="already has an element with id 'narrate-0-0'"):
        mark_paragraphs(root, html_blocks(root), {0: "One."}, language="en", where="b: d")


def test_origins_lead_back_from_normalized_characters_to_raw_ones() -> None:
    raw = "  “Wait…”\u00a0she  said soft\u00adly. e\u0301te\u0301 ﬁn."
    text = reader_text(raw)
    assert text == '"Wait..." she said softly. été fin.'
    found = origins(raw, text)
    assert len(found) == len(text)
    assert raw[slice(*raw_span(found, 0, 9))] == "“Wait…”"
    assert raw[slice(*raw_span(found, 10, 26))] == "she  said soft\u00adly."
    assert raw[slice(*raw_span(found, 27, 35))] == "e\u0301te\u0301 ﬁn."


def test_split_parts_carry_the_index_of_their_first_paragraph() -> None:
    words = " ".join(["word"] * 200)
    chapter = ChapterText("Long", "\n\n".join([words] * 30), document="EPUB/c.xhtml", first_paragraph=2)
    parts = split_long_chapters([chapter], max_minutes=5)
    assert len(parts) > 1 and {p.document for p in parts} == {"EPUB/c.xhtml"}
    starts = [p.first_paragraph for p in parts]
    counts = [len(p.text.split("\n\n")) for p in parts]
    assert starts == [2 + sum(counts[:n]) for n in range(len(parts))]


def test_only_the_narrated_chapters_and_paragraphs_are_marked(tmp_path: Path) -> None:
    source = write_epub(
        tmp_path / "b.epub",
        title="B",
        author="A",
        cover=False,
        chapters=[("One", ["First. Second.", "Third."]), ("Two", ["Fourth.", "Fifth. Sixth."])],
    )
    book = read_epub(source)
    second = book.chapters[1]
    part = ChapterText(second.title, "Fifth. Sixth.", document=second.document, first_paragraph=1)
    out = tmp_path / "marked.epub"
    mark_epub(source, replace(book, chapters=[part]), out=out)
    assert epub_sentences(out) == {second.document: [("narrate-1-0", "Fifth."), ("narrate-1-1", "Sixth.")]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.epub", "marked.epub"], "no temporary file left"


def test_a_book_that_does_not_match_its_source_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    source = write_epub(tmp_path / "b.epub", title="B", author="A", cover=False, chapters=[("One", ["First."])])
    book = read_epub(source)
    wrong = ChapterText("One", "Something else.", document=book.chapters[0].document)
    with pytest.raises(BadInput, match="b.epub: EPUB/chapter-1.xhtml: paragraph 1 is not the text that was narrated"):
        mark_epub(source, replace(book, chapters=[wrong]), out=tmp_path / "out.epub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.epub"]


def test_the_ncx_page_types_outside_its_schema_are_renamed_and_the_rest_kept() -> None:
    ncx = (
        b'<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1"><pageList>'
        b'<pageTarget type="body" value="1"/><pageTarget type="front" value="2"/>'
        b'<pageTarget type="frontmatter" value="3"/><pageTarget type="backmatter" value="4"/></pageList></ncx>'
    )
    repaired = repair_page_types(ncx)
    assert repaired is not None and [t.get("type") for t in etree.fromstring(repaired).iter("{*}pageTarget")] == [
        "normal",
        "front",
        "front",
        "special",
    ]
    assert repair_page_types(repaired) is None


def test_a_generated_book_has_a_document_per_chapter_with_its_sentences_marked(tmp_path: Path) -> None:
    chapters = [
        ChapterText("Intro", 'He said "Go." Mr. Smith went.\n\nA <b> & c.'),
        ChapterText("Part", "One more.", first_paragraph=3),
    ]
    book = BookText("b.md", "Book", "Ann", "en", None, "", chapters)
    documents = generated_epub(book, out=tmp_path / "g.epub", language="en")
    assert documents == ["EPUB/chapter-001.xhtml", "EPUB/chapter-002.xhtml"]
    assert epub_sentences(tmp_path / "g.epub") == {
        "EPUB/chapter-001.xhtml": [
            ("narrate-0-0", 'He said "Go."'),
            ("narrate-0-1", "Mr. Smith went."),
            ("narrate-1-0", "A <b> & c."),
        ],
        "EPUB/chapter-002.xhtml": [("narrate-0-0", "One more.")],  # a document of its own: its paragraphs from 0
    }
