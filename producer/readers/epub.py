"""EPUB: chapters in spine order, titles from the table of contents, metadata and cover; DRM refused."""

from __future__ import annotations

import posixpath
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import ebooklib
from ebooklib import epub
from lxml import etree, html

from producer.readers.booktext import BookText, ChapterText, one_line
from producer.readers.epub_limits import EpubLimits, check_archive, check_cover, check_file
from producer.readers.matter import matter_of
from worker.errors import BadInput
from worker.settings import get_settings
from worker.text.normalize import normalize_text

_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_XENC = "{http://www.w3.org/2001/04/xmlenc#}"
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError)
_BLOCKS = frozenset(
    (
        "p div li blockquote section article header footer aside nav figure figcaption table tr td th"
        " caption ul ol dl dt dd pre address main body hr h1 h2 h3 h4 h5 h6"
    ).split()
)
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
SKIPPED = frozenset({"script", "style", "head", "template", "rt", "rp"})  # elements whose text is never narrated


def _unreadable(name: str, reason: str) -> BadInput:
    return BadInput(f"{name}: is not a readable EPUB ({reason}); re-download or re-export it")


def read_epub(file: Path, *, limits: EpubLimits | None = None) -> BookText:
    """The book, or BadInput; its sizes (settings NARRATE_EPUB_MAX_BYTES, …) are checked before anything is unpacked."""
    limits = limits or EpubLimits.from_settings(get_settings())
    _check_archive(file, limits=limits)
    try:
        reader = epub.EpubReader(str(file), {"ignore_ncx": True})
        book = reader.load()
        reader.process()
    except Exception as exc:  # ebooklib raises many types (KeyError, IndexError, lxml errors) for broken books
        raise _unreadable(file.name, exc.msg if isinstance(exc, epub.EpubException) else repr(exc)) from exc
    titles = _toc_titles(book)
    guide = {posixpath.normpath(unquote(g.get("href", "").split("#", 1)[0])): g.get("type", "") for g in book.guide}
    chapters: list[ChapterText] = []
    for idref, linear in book.spine:
        item = book.get_item_with_id(idref)
        if not isinstance(item, epub.EpubHtml) or isinstance(item, epub.EpubNav) or "nav" in item.properties:
            continue
        toc_title = titles.get(posixpath.normpath(item.file_name))
        root = parse_document(item.content, name=file.name, document=item.file_name)
        blocks = html_blocks(root)
        if not blocks and toc_title is not None:
            raise BadInput(
                f"{file.name}: chapter {toc_title!r} is empty ({item.file_name} has no text);"
                " fix the book, or remove the chapter from its table of contents"
            )
        if not blocks or (toc_title is None and linear == "no"):
            continue  # cover and title pages made of images; auxiliary documents outside the reading order
        title = toc_title or next((b.text for b in blocks if b.tag in _HEADINGS[:3]), "")
        title = title or f"Chapter {len(chapters) + 1}"
        text = "\n\n".join(b.text for b in body_blocks(blocks, title=title))
        matter = matter_of(root, text=text, guide_type=guide.get(posixpath.normpath(item.file_name)))
        document = posixpath.normpath(posixpath.join(reader.opf_dir, item.file_name))
        chapters.append(ChapterText(title, text, matter, document=document))
    if not chapters:
        raise BadInput(f"{file.name}: has no text to narrate (its documents hold only images?); use a book with text")
    dc = book.metadata.get(epub.NAMESPACES["DC"], {})
    meta = {k: [t for v, _ in dc.get(k, []) if v and (t := one_line(str(v)))] for k in ("title", "creator", "language")}
    cover = _cover(book)
    check_cover(
        file.name,
        cover=cover.content if cover is not None else None,
        where=f" ({cover.file_name})" if cover else "",
        limit=limits.cover_bytes,
    )
    cover_bytes, cover_type = (cover.content, cover.media_type) if cover is not None else (None, "")
    title, language = (meta["title"] or [file.stem])[0], (meta["language"] or [""])[0]
    return BookText(file.name, title, ", ".join(meta["creator"]), language, cover_bytes, cover_type, chapters)


def _check_archive(file: Path, *, limits: EpubLimits) -> None:
    """Checked before parsing.

    Sizes (a small file can unpack to gigabytes), and DRM (encrypted documents read as garbage).
    """
    check_file(file, limits=limits)
    try:
        with zipfile.ZipFile(file) as archive:
            check_archive(file, archive, limits=limits)
            if "META-INF/encryption.xml" not in archive.namelist():
                return
            root = _parse_xml(archive.read("META-INF/encryption.xml"))
    except _ZIP_ERRORS as exc:
        raise _unreadable(file.name, f"not a valid zip archive: {exc}") from exc
    except etree.XMLSyntaxError as exc:
        raise _unreadable(file.name, f"META-INF/encryption.xml is not valid XML: {exc}") from exc
    for encrypted in root.iter(f"{_XENC}EncryptedData"):
        method = encrypted.find(f"{_XENC}EncryptionMethod")
        if method is None or method.get("Algorithm") not in _FONT_OBFUSCATION:
            raise BadInput(
                f"{file.name}: is DRM-protected (META-INF/encryption.xml): narrate cannot read it; use a DRM-free copy"
            )


def _toc_titles(book: epub.EpubBook) -> dict[str, str]:
    """Document path (relative to the OPF, no #fragment) -> its first title in the TOC, nested entries included."""
    # Nav hrefs arrive resolved against the OPF folder; NCX hrefs are relative to the NCX file.
    ncx = next(iter(book.get_items_of_type(ebooklib.ITEM_NAVIGATION)), None)
    has_nav = any(isinstance(item, epub.EpubNav) for item in book.get_items())
    base = posixpath.dirname(ncx.file_name) if ncx is not None and not has_nav else ""
    titles: dict[str, str] = {}
    pending = list(book.toc)
    while pending:
        entry = pending.pop(0)
        if isinstance(entry, tuple):
            pending[:0] = [entry[0], *entry[1]]  # a section, then its children, in reading order
            continue
        href = getattr(entry, "href", "") or getattr(entry, "file_name", "")
        title = one_line(str(getattr(entry, "title", "") or ""))
        if href and title:
            titles.setdefault(posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0]))), title)
    return titles


def parse_document(content: bytes, *, name: str, document: str) -> Any:
    """The parsed XHTML document: as XML, or as HTML when it is not well-formed; BadInput when it is neither."""
    try:
        return _parse_xml(content)
    except etree.XMLSyntaxError:
        try:
            return html.document_fromstring(content)  # not well-formed XML, e.g. HTML entities like &nbsp;
        except (etree.ParserError, ValueError) as exc:
            raise _unreadable(name, f"{document} cannot be parsed: {exc}") from exc


@dataclass(frozen=True)
class Block:
    """A paragraph of an XHTML document, as narrated, and the text nodes it was read from."""

    tag: str  # of the enclosing block element
    text: str  # normalized
    pieces: tuple[tuple[Any, str], ...]  # (element, "text" or "tail"): its raw text is theirs, joined in this order


def slot_text(element: Any, slot: str) -> str:
    """The raw text of one piece of a Block: `element.text` or `element.tail`."""
    return (element.text if slot == "text" else element.tail) or ""


def html_blocks(root: Any) -> list[Block]:
    """The paragraphs of an XHTML document, in order: block elements and `<br>` end one."""
    blocks: list[Block] = []
    pieces: list[tuple[Any, str]] = []

    def flush(owner: str) -> None:
        raw = "".join(slot_text(element, slot) for element, slot in pieces)
        if text := normalize_text(" ".join(raw.split())):
            blocks.append(Block(owner, text, tuple(pieces)))
        pieces.clear()

    def walk(element: Any, owner: str) -> None:
        tag = _tag(element)
        if tag == "br":
            flush(owner)
        elif tag and tag not in SKIPPED:
            if tag in _BLOCKS:
                flush(owner)  # text before this block belongs to the enclosing one
                owner = tag
            pieces.append((element, "text"))
            for child in element:
                walk(child, owner)
                pieces.append((child, "tail"))
            if tag in _BLOCKS:
                flush(owner)

    walk(next((el for el in root.iter() if _tag(el) == "body"), root), "body")
    flush("body")
    return blocks


def body_blocks(blocks: list[Block], *, title: str) -> list[Block]:
    """The paragraphs narrated for a chapter titled `title`: all but the headings that repeat the title."""
    body = [b for b in blocks if not (b.tag in _HEADINGS and b.text.casefold() == title.casefold())]
    return body or blocks


def _parse_xml(data: bytes) -> Any:
    # Untrusted input: no entity expansion, no network; a fresh parser, as lxml parsers are not thread-safe.
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def _tag(element: Any) -> str:
    """Local tag name, lower case; "" for comments and processing instructions."""
    return element.tag.rsplit("}", 1)[-1].rsplit(":", 1)[-1].lower() if isinstance(element.tag, str) else ""


def _cover(book: epub.EpubBook) -> epub.EpubItem | None:
    covers = list(book.get_items_of_type(ebooklib.ITEM_COVER))
    for _, attrs in book.metadata.get(epub.NAMESPACES["OPF"], {}).get("meta", []):
        if (attrs or {}).get("name") == "cover":  # EPUB 2: <meta name="cover" content="ITEM-ID"/>
            covers.append(book.get_item_with_id(attrs.get("content", "")))
    return next((i for i in covers if i is not None and i.content and (i.media_type or "").startswith("image/")), None)
