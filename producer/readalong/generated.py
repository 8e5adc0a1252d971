"""An EPUB 3 made for a book read from Markdown or plain text, its narrated sentences marked.

One XHTML document per chapter: its title as `<h1>` (spoken by no sentence, so not marked), then a `<p>` per
paragraph, each sentence in `<span id="narrate-{p}-{k}" class="narrate-sentence">` as in a publisher's EPUB. A
chapter's paragraphs are its document's, so p counts from 0 in each: its `first_paragraph` there is 0.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lxml import etree

from producer.readalong.archive import CONTAINER, OPS_NS, XHTML_NS, write_epub
from producer.readalong.marks import SENTENCE_CLASS
from producer.readers.booktext import BookText
from worker.text.sentences import sentence_id, sentence_spans

FOLDER = "EPUB"
_OPF_NS = "http://www.idpf.org/2007/opf"
_DC_NS = "http://purl.org/dc/elements/1.1/"
_CONTAINER_XML = (
    b'<?xml version="1.0" encoding="utf-8"?>\n'
    b'<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    b'<rootfiles><rootfile full-path="EPUB/package.opf" media-type="application/oebps-package+xml"/></rootfiles>'
    b"</container>\n"
)
_COVER_EXTENSIONS = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}


def generated_epub(book: BookText, *, out: Path, language: str) -> list[str]:
    """Writes the book as an EPUB 3 to `out`; each chapter's document path inside the zip, in chapter order."""
    entries: dict[str, bytes] = {CONTAINER: _CONTAINER_XML}
    names = [f"chapter-{number:03d}.xhtml" for number in range(1, len(book.chapters) + 1)]
    for name, chapter in zip(names, book.chapters, strict=True):
        html, body = _page(chapter.title, language)
        etree.SubElement(body, f"{{{XHTML_NS}}}h1").text = chapter.title
        for number, paragraph in enumerate(chapter.text.split("\n\n")):
            _paragraph(body, paragraph, index=number, language=language)
        entries[f"{FOLDER}/{name}"] = _xhtml(html)
    entries[f"{FOLDER}/nav.xhtml"] = _nav(book, names, language)
    cover = ""
    if book.cover and book.cover_type in _COVER_EXTENSIONS:
        cover = f"cover.{_COVER_EXTENSIONS[book.cover_type]}"
        entries[f"{FOLDER}/{cover}"] = book.cover
    entries[f"{FOLDER}/package.opf"] = _package(book, names, language, cover=cover)
    write_epub(out, entries)
    return [f"{FOLDER}/{name}" for name in names]


def _paragraph(body: Any, paragraph: str, *, index: int, language: str) -> None:
    """A `<p>` whose sentences are spans; the spaces between them stay between them."""
    element = etree.SubElement(body, f"{{{XHTML_NS}}}p")
    last: Any = None
    position = 0
    for number, (start, end) in enumerate(sentence_spans(paragraph, language=language)):
        between = paragraph[position:start]
        if last is None:
            element.text = between or None
        else:
            last.tail = between or None
        last = etree.SubElement(element, f"{{{XHTML_NS}}}span", id=sentence_id(index, number))
        last.set("class", SENTENCE_CLASS)
        last.text = paragraph[start:end]
        position = end
    if last is None:
        element.text = paragraph
    else:
        last.tail = paragraph[position:] or None


def _page(title: str, language: str) -> tuple[Any, Any]:
    html = etree.Element(f"{{{XHTML_NS}}}html", nsmap={None: XHTML_NS, "epub": OPS_NS})
    if language:
        html.set("lang", language)
        html.set("{http://www.w3.org/XML/1998/namespace}lang", language)
    head = etree.SubElement(html, f"{{{XHTML_NS}}}head")
    etree.SubElement(head, f"{{{XHTML_NS}}}title").text = title
    return html, etree.SubElement(html, f"{{{XHTML_NS}}}body")


def _nav(book: BookText, names: list[str], language: str) -> bytes:
    html, body = _page(book.title, language)
    nav = etree.SubElement(body, f"{{{XHTML_NS}}}nav", id="toc")
    nav.set(f"{{{OPS_NS}}}type", "toc")
    etree.SubElement(nav, f"{{{XHTML_NS}}}h1").text = book.title
    listing = etree.SubElement(nav, f"{{{XHTML_NS}}}ol")
    for name, chapter in zip(names, book.chapters, strict=True):
        item = etree.SubElement(listing, f"{{{XHTML_NS}}}li")
        etree.SubElement(item, f"{{{XHTML_NS}}}a", href=name).text = chapter.title
    return _xhtml(html)


def _package(book: BookText, names: list[str], language: str, *, cover: str) -> bytes:
    opf = f"{{{_OPF_NS}}}"
    dc = f"{{{_DC_NS}}}"
    package = etree.Element(f"{opf}package", nsmap={None: _OPF_NS, "dc": _DC_NS})
    package.set("version", "3.0")
    package.set("unique-identifier", "id")
    metadata = etree.SubElement(package, f"{opf}metadata")
    etree.SubElement(metadata, f"{dc}identifier", id="id").text = f"urn:uuid:{_identifier(book)}"
    etree.SubElement(metadata, f"{dc}title").text = book.title
    if book.author:
        etree.SubElement(metadata, f"{dc}creator").text = book.author
    etree.SubElement(metadata, f"{dc}language").text = language or "und"
    modified = etree.SubElement(metadata, f"{opf}meta", property="dcterms:modified")
    modified.text = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = etree.SubElement(package, f"{opf}manifest")
    _item(manifest, "nav", "nav.xhtml", "application/xhtml+xml", properties="nav")
    for number, name in enumerate(names, start=1):
        _item(manifest, f"chapter-{number}", name, "application/xhtml+xml")
    if cover:
        _item(manifest, "cover", cover, book.cover_type, properties="cover-image")
    spine = etree.SubElement(package, f"{opf}spine")
    for number in range(1, len(names) + 1):
        etree.SubElement(spine, f"{opf}itemref", idref=f"chapter-{number}")
    return etree.tostring(package.getroottree(), xml_declaration=True, encoding="utf-8", pretty_print=True)


def _item(manifest: Any, item_id: str, href: str, media_type: str, *, properties: str = "") -> None:
    item = etree.SubElement(manifest, f"{{{_OPF_NS}}}item", id=item_id, href=href)
    item.set("media-type", media_type)
    if properties:
        item.set("properties", properties)


def _identifier(book: BookText) -> uuid.UUID:
    """The same book always gets the same identifier."""
    digest = hashlib.sha256("\n\n".join([book.title, book.author, *(c.text for c in book.chapters)]).encode())
    return uuid.uuid5(uuid.NAMESPACE_URL, f"narrate:book:{digest.hexdigest()}")


def _xhtml(html: Any) -> bytes:
    return etree.tostring(html.getroottree(), xml_declaration=True, encoding="utf-8", doctype="<!DOCTYPE html>")
