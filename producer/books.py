"""Read books (.txt, .md, .epub) into chapters of clean, speakable text."""

from __future__ import annotations

import codecs
import posixpath
import re
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import ebooklib
import yaml
from ebooklib import epub
from lxml import etree, html

from worker.errors import BadInput
from worker.textnorm import normalize_text

BOOK_SUFFIXES: tuple[str, ...] = (".txt", ".text", ".md", ".markdown", ".epub")


@dataclass(frozen=True)
class ChapterText:
    title: str
    text: str  # normalized with worker.textnorm.normalize_text, paragraphs separated by "\n\n"


@dataclass(frozen=True)
class BookText:
    source: str  # the file name
    title: str
    author: str  # "" when unknown
    language: str  # "" when unknown
    cover: bytes | None  # image bytes when the book has a cover
    cover_type: str  # e.g. "image/jpeg", "" when no cover
    chapters: list[ChapterText]


def read_book(path: str) -> BookText:
    """The book at `path` as chapters of normalized text, or BadInput saying what to fix."""
    file = Path(path)
    suffix = file.suffix.lower()
    if not file.exists():
        raise BadInput(f"{path}: no such file; check the path")
    if file.is_dir():
        raise BadInput(f"{path}: is a directory; pass a book file ({', '.join(BOOK_SUFFIXES)})")
    if suffix not in BOOK_SUFFIXES:
        raise BadInput(f"{path}: unsupported book type {suffix!r}; pass one of {', '.join(BOOK_SUFFIXES)}")
    if suffix == ".epub":
        return _read_epub(file)
    try:
        text = decode_text(file.read_bytes(), file.name)
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    if suffix in (".md", ".markdown"):
        return _read_markdown(file, text)
    chapters = [ChapterText(file.stem, _required(normalize_text(text), file.name))]
    return BookText(file.name, file.stem, "", "", None, "", chapters)


def decode_text(raw: bytes, name: str) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; else BadInput naming the bad byte's offset."""
    encoding, skip = "utf-8", 3 if raw.startswith(codecs.BOM_UTF8) else 0
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, skip = ("utf-16-le" if raw.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"), 2
    try:
        text = raw[skip:].decode(encoding)
    except UnicodeDecodeError as exc:
        what = "UTF-8 text" if encoding == "utf-8" else "valid UTF-16 text (despite its UTF-16 byte-order mark)"
        raise BadInput(f"{name}: not {what} (invalid byte at offset {exc.start + skip});"
                       " convert it, e.g. `iconv -f latin1 -t utf-8`") from exc  # fmt: skip
    if "\x00" in text:
        raise BadInput(f"{name}: contains NUL bytes; if it is UTF-16, save it with a byte-order mark or as UTF-8")
    return text


def _required(text: str, name: str) -> str:
    if not text:
        raise BadInput(f"{name}: has no speakable text; nothing to narrate, check that it is the right file")
    return text


def _line(text: str) -> str:
    return " ".join(normalize_text(text).split())


# --- Markdown ------------------------------------------------------------------------------------

# Blanked before line parsing, keeping their newlines so line numbers stay right.
_HIDDEN = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>", re.S | re.I)
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t])#+[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Horizontal rules, setext underlines, link definitions and table separator rows say nothing.
_SILENT_LINE = re.compile(
    r"^ {0,3}(?:([-*_])(?:[ \t]*\1){2,}|=+|\[[^\]]+\]:[ \t]*\S.*|[|:\- \t]*-[|:\- \t]*\|[|:\- \t]*)[ \t]*$"
)
_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")
# Escaped and code-span punctuation hides in a private-use range while emphasis is stripped.
_SHIELD = 0xF0000
_SHIELDED = re.compile("[\U000f0000-\U000f007f]")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_INLINE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])?"), ""),  # images
    (re.compile(r"\[\^[^\]]*\]"), ""),  # footnote references
    (re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])"), r"\1"),  # links keep their text
    (re.compile(r"<br\s*/?>", re.I), " "),
    (re.compile(r"</?[A-Za-z][^>]*>"), ""),  # HTML tags and autolinks
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S), r"\2"),
    (re.compile(r"\*(?=[^\s*])(.+?)(?<=[^\s*])\*", re.S), r"\1"),
    (re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)", re.S), r"\1"),  # not inside snake_case
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.S), r"\1"),
]


def _read_markdown(file: Path, text: str) -> BookText:
    text = _HIDDEN.sub(lambda m: "\n" * m.group().count("\n"), text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    meta, start = _front_matter(lines, file.name)
    items: list[tuple[int, int, str]] = []  # (line number, heading level 1-3 or 0 for body, text)
    fence = ""
    for number, line in enumerate(lines[start:], start + 1):
        if fence:
            fence = "" if re.match(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", line) else fence
        elif match := _FENCE.match(line):
            fence = match.group(1)
            items.append((number, 0, ""))  # code is dropped but still ends a paragraph
        elif (match := _HEADING.match(line)) and len(match.group(1)) <= 3:
            heading = _line(_inline(_CLOSING_HASHES.sub("", match.group(2).strip())))
            items.append((number, len(match.group(1)), heading))
        else:
            items.append((number, 0, _body_line(line)))
    # A lone "#" heading before any text names the book; several "#" headings are chapters.
    first = next((item for item in items if item[1] or item[2].strip()), None)
    title_item = first if first and first[1] == 1 and sum(item[1] == 1 for item in items) == 1 else None
    title = _line(str(meta.get("title") or "")) or (title_item[2] if title_item else "") or file.stem
    sections: list[tuple[str, int, list[str]]] = [("", 0, [])]  # the first holds text before any chapter
    for item in items:
        if item[1] and item is not title_item:
            sections.append((item[2], item[0], []))
        elif not item[1]:
            sections[-1][2].append(item[2])
    chapters: list[ChapterText] = []
    for index, (heading, number, body) in enumerate(sections):
        chapter_text, heading = _inline("\n".join(body)), heading or f"Chapter {len(chapters) + 1}"
        if index and not chapter_text:
            raise BadInput(f"{file.name}: chapter {heading!r} (line {number}) has no text under its heading;"
                           " add the text or remove the heading")  # fmt: skip
        if chapter_text:
            chapters.append(ChapterText(heading if index else "Introduction" if sections[1:] else title, chapter_text))
    _required("".join(chapter.text for chapter in chapters), file.name)
    author = meta.get("author") or ""
    author = ", ".join(_line(str(a)) for a in author) if isinstance(author, list) else _line(str(author))
    language = _line(str(meta.get("language") or meta.get("lang") or ""))
    return BookText(file.name, title, author, language, None, "", chapters)


def _front_matter(lines: list[str], name: str) -> tuple[dict[str, Any], int]:
    """YAML between "---" lines at the very top, and the index of the first line after it."""
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
    first = next((line for line in lines[1:end] if line.strip()), "")
    if lines[0].strip() != "---" or not end or not re.match(r"[\w-]+[ \t]*:", first):
        return {}, 0  # no front matter; a "---" on the first line is then a horizontal rule
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" near line {mark.line + 2}" if mark is not None else ""
        raise BadInput(f"{name}: the front matter (--- ... --- at the top) is not valid YAML{where}; fix it") from exc
    if not isinstance(data, dict):
        raise BadInput(f"{name}: the front matter (--- ... --- at the top) must be `key: value` lines; fix it")
    return data, end + 1


def _body_line(line: str) -> str:
    if _SILENT_LINE.match(line):
        return ""  # still a paragraph break
    line = _QUOTE.sub("", line)
    if match := _LIST_ITEM.match(line):
        return "\n" + line[match.end() :]  # each list item is its own paragraph
    if line.lstrip().startswith("|"):  # a table row: its cells, as one paragraph
        return "\n" + ", ".join(cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip()) + "\n"
    if match := _HEADING.match(line):
        return f"\n{_CLOSING_HASHES.sub('', match.group(2).strip())}\n"  # #### and deeper: a plain paragraph
    return line


def _shield(text: str) -> str:
    return "".join(chr(_SHIELD + ord(c)) if c.isascii() and not c.isalnum() and not c.isspace() else c for c in text)


def _inline(text: str) -> str:
    """Markdown inline syntax stripped, one paragraph at a time (so no marker pairs across them), normalized."""
    paragraphs = []
    for paragraph in re.split(r"\n[ \t]*\n", _ESCAPE.sub(lambda m: _shield(m.group(1)), text)):
        paragraph = _CODE_SPAN.sub(lambda m: _shield(m.group(2).strip()), paragraph)
        for pattern, replacement in _INLINE:
            paragraph = pattern.sub(replacement, paragraph)
        paragraphs.append(paragraph)
    return normalize_text(_SHIELDED.sub(lambda m: chr(ord(m.group()) - _SHIELD), "\n\n".join(paragraphs)))


# --- EPUB ----------------------------------------------------------------------------------------

_FONT_OBFUSCATION = {"http://www.idpf.org/2008/embedding", "http://ns.adobe.com/pdf/enc#RC"}
_XENC = "{http://www.w3.org/2001/04/xmlenc#}"
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, RuntimeError, NotImplementedError, ValueError)
_BLOCKS = frozenset(("p div li blockquote section article header footer aside nav figure figcaption table tr td th"
                     " caption ul ol dl dt dd pre address main body hr h1 h2 h3 h4 h5 h6").split())  # fmt: skip
_HEADINGS = ("h1", "h2", "h3", "h4", "h5", "h6")
_SKIPPED = frozenset({"script", "style", "head", "template", "rt", "rp"})


def _unreadable(name: str, reason: str) -> BadInput:
    return BadInput(f"{name}: is not a readable EPUB ({reason}); re-download or re-export it")


def _read_epub(file: Path) -> BookText:
    _refuse_drm(file)
    try:
        book = epub.read_epub(str(file), {"ignore_ncx": True})
    except Exception as exc:  # ebooklib raises many types (KeyError, IndexError, lxml errors) for broken books
        raise _unreadable(file.name, exc.msg if isinstance(exc, epub.EpubException) else repr(exc)) from exc
    titles = _toc_titles(book)
    chapters: list[ChapterText] = []
    for idref, linear in book.spine:
        item = book.get_item_with_id(idref)
        if not isinstance(item, epub.EpubHtml) or isinstance(item, epub.EpubNav) or "nav" in item.properties:
            continue
        toc_title = titles.get(posixpath.normpath(item.file_name))
        blocks = _html_blocks(item.content, name=file.name, document=item.file_name)
        if not blocks and toc_title is not None:
            raise BadInput(f"{file.name}: chapter {toc_title!r} is empty ({item.file_name} has no text);"
                           " fix the book, or remove the chapter from its table of contents")  # fmt: skip
        if not blocks or (toc_title is None and linear == "no"):
            continue  # cover and title pages made of images; auxiliary documents outside the reading order
        title = toc_title or next((text for tag, text in blocks if tag in _HEADINGS[:3]), "")
        title = title or f"Chapter {len(chapters) + 1}"
        body = [text for tag, text in blocks if not (tag in _HEADINGS and text.casefold() == title.casefold())]
        chapters.append(ChapterText(title, "\n\n".join(body or [text for _, text in blocks])))
    if not chapters:
        raise BadInput(f"{file.name}: has no text to narrate (its documents hold only images?); use a book with text")
    dc = book.metadata.get(epub.NAMESPACES["DC"], {})
    meta = {k: [t for v, _ in dc.get(k, []) if v and (t := _line(str(v)))] for k in ("title", "creator", "language")}
    cover = _cover(book)
    cover_bytes, cover_type = (cover.content, cover.media_type) if cover is not None else (None, "")
    title, language = (meta["title"] or [file.stem])[0], (meta["language"] or [""])[0]
    return BookText(file.name, title, ", ".join(meta["creator"]), language, cover_bytes, cover_type, chapters)


def _refuse_drm(file: Path) -> None:
    """Checked before parsing: encrypted documents would otherwise be read as garbage."""
    try:
        with zipfile.ZipFile(file) as archive:
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
            raise BadInput(f"{file.name}: is DRM-protected (META-INF/encryption.xml): narrate cannot read it;"
                           " use a DRM-free copy")  # fmt: skip


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
        title = _line(str(getattr(entry, "title", "") or ""))
        if href and title:
            titles.setdefault(posixpath.normpath(posixpath.join(base, unquote(href.split("#", 1)[0]))), title)
    return titles


def _html_blocks(content: bytes, *, name: str, document: str) -> list[tuple[str, str]]:
    """(tag of the enclosing block element, normalized text) for each paragraph of an XHTML document."""
    try:
        root = _parse_xml(content)
    except etree.XMLSyntaxError:
        try:
            root = html.document_fromstring(content)  # not well-formed XML, e.g. HTML entities like &nbsp;
        except (etree.ParserError, ValueError) as exc:
            raise _unreadable(name, f"{document} cannot be parsed: {exc}") from exc
    blocks: list[tuple[str, str]] = []
    parts: list[str] = []

    def flush(owner: str) -> None:
        if text := normalize_text(" ".join("".join(parts).split())):
            blocks.append((owner, text))
        parts.clear()

    def walk(element: Any, owner: str) -> None:
        tag = _tag(element)
        if tag == "br":
            flush(owner)
        elif tag and tag not in _SKIPPED:
            if tag in _BLOCKS:
                flush(owner)  # text before this block belongs to the enclosing one
                owner = tag
            parts.append(element.text or "")
            for child in element:
                walk(child, owner)
                parts.append(child.tail or "")
            if tag in _BLOCKS:
                flush(owner)

    walk(next((el for el in root.iter() if _tag(el) == "body"), root), "body")
    flush("body")
    return blocks


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
