"""The publisher's EPUB with its narrated sentences marked: the text of a read-along book.

Only the documents some chapter was narrated from are rewritten, and in them only the narrated paragraphs'
sentences are wrapped (producer.readalong.marks); every other file is copied as it was. An EPUB 2 is made an
EPUB 3 (producer.readalong.epub3), which Media Overlays need. The NCX's page types outside its schema are
renamed (producer.readalong.navdoc). The book is written beside `out` and renamed: never half-written.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from urllib.parse import unquote

from producer.readalong.archive import package_path, parse_xml, read_entries, write_epub, xhtml_bytes
from producer.readalong.epub3 import OPF, XHTML_TYPE, is_epub2, upgrade
from producer.readalong.marks import mark_paragraphs, marked_sentences
from producer.readalong.navdoc import repair_page_types
from producer.readers.booktext import BookText
from producer.readers.epub import body_blocks, html_blocks, parse_document, read_epub
from worker.errors import BadInput


def narrated_paragraphs(book: BookText) -> dict[str, dict[int, str]]:
    """For each EPUB document narrated from: its narrated paragraphs, by index among the document's paragraphs."""
    narrated: dict[str, dict[int, str]] = {}
    for chapter in book.chapters:
        if chapter.document:
            paragraphs = narrated.setdefault(chapter.document, {})
            for number, text in enumerate(chapter.text.split("\n\n")):
                paragraphs[chapter.first_paragraph + number] = text
    return narrated


def mark_epub(source: Path, book: BookText, *, out: Path, language: str | None = None) -> None:
    """Writes to `out` the EPUB at `source` with the sentences of `book`'s chapters marked (see the module).

    `book` is what was narrated from `source` (chapters chosen, long ones split); sentences are split in
    `language` (the book's own when None). BadInput, naming the file, when the book cannot be marked.
    """
    narrated = narrated_paragraphs(book)
    if not narrated:
        raise BadInput(f"{source.name}: none of the narrated chapters comes from an EPUB document; nothing to mark")
    read = read_epub(source)  # the titles the reader left out of the narration, as it found them
    titles = {chapter.document: chapter.title for chapter in read.chapters}
    entries = read_entries(source)
    for document, paragraphs in narrated.items():
        where = f"{source.name}: {document}"
        if document not in titles or document not in entries:
            raise BadInput(f"{where}: no such chapter in the book; mark the EPUB the narration was read from")
        root = parse_document(entries[document], name=source.name, document=document)
        body = body_blocks(html_blocks(root), title=titles[document])
        mark_paragraphs(root, body, paragraphs, language=book.language if language is None else language, where=where)
        entries[document] = xhtml_bytes(root)
    opf = package_path(entries)
    if is_epub2(parse_xml(entries[opf])):
        upgrade(entries, package_path=opf, name=source.name)
    for name in _manifest_paths(entries, opf, "application/x-dtbncx+xml"):
        if (repaired := repair_page_types(entries[name])) is not None:
            entries[name] = repaired
    write_epub(out, entries)


def epub_sentences(file: Path) -> dict[str, list[tuple[str, str]]]:
    """For each XHTML document of a marked EPUB that has marks: (id, normalized text) of each, in document order."""
    entries = read_entries(file)
    found = {}
    for name in _manifest_paths(entries, package_path(entries), XHTML_TYPE):
        if marks := marked_sentences(entries[name]):
            found[name] = marks
    return found


def _manifest_paths(entries: dict[str, bytes], opf: str, media_type: str) -> list[str]:
    """The paths inside the zip of the package's files of `media_type`, in manifest order."""
    manifest = parse_xml(entries[opf]).find(f"{OPF}manifest")
    base = posixpath.dirname(opf)
    return [
        path
        for item in manifest.findall(f"{OPF}item")
        if item.get("media-type") == media_type
        and (path := posixpath.normpath(posixpath.join(base, unquote(item.get("href", ""))))) in entries
    ]
