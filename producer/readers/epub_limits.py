"""What an EPUB may hold, checked from its zip directory before anything in it is unpacked.

A 409 KB EPUB can declare a 400 MB entry, and the EPUB library reads every entry
whole into memory. So the file, the entries together and each document are
measured against limits first, from the sizes the archive declares. An entry
can also hold more than it declares: zipfile returns only the declared bytes,
but inflates the whole stream first when asked for all of it, so each entry is
inflated here a block at a time, and one that does not end where it says is
refused. Only then may the library read it. The cover is checked once known.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worker.errors import BadInput
from worker.support.limits import too_big

# Parsed as markup; images, fonts and media are only carried.
_DOCUMENTS = (".xhtml", ".html", ".htm", ".xml", ".opf", ".ncx")
_BLOCK = 256 * 1024
_MAX_ENTRIES = 20_000  # far above any real book: each entry costs memory before it is even read


@dataclass(frozen=True)
class EpubLimits:
    book_bytes: int  # the file, and all its entries unpacked
    document_bytes: int  # one markup document unpacked
    cover_bytes: int

    @classmethod
    def from_settings(cls, settings: Any) -> EpubLimits:
        return cls(
            book_bytes=settings.epub_max_bytes,
            document_bytes=settings.epub_document_max_bytes,
            cover_bytes=settings.cover_max_bytes,
        )


def check_file(file: Path, *, limits: EpubLimits) -> None:
    """Before its zip directory is read: BadInput when the file itself is over the book's limit."""
    size = file.stat().st_size
    if size > limits.book_bytes:
        raise too_big(file.name, what="the file", size=size, limit=limits.book_bytes, setting="NARRATE_EPUB_MAX_BYTES")


def check_archive(file: Path, archive: zipfile.ZipFile, *, limits: EpubLimits) -> None:
    """BadInput naming what is too big, the limit and the setting that raises it; nothing is unpacked."""
    entries = archive.infolist()
    if len(entries) > _MAX_ENTRIES:
        raise BadInput(
            f"{file.name}: holds {len(entries):,} files, over the {_MAX_ENTRIES:,} an EPUB may have; it is not a book"
        )
    total = 0
    for entry in entries:
        total += entry.file_size
        if total > limits.book_bytes:
            raise too_big(
                file.name,
                what="its contents unpacked",
                size=sum(e.file_size for e in entries),
                limit=limits.book_bytes,
                setting="NARRATE_EPUB_MAX_BYTES",
            )
        if posixpath.splitext(entry.filename.lower())[1] in _DOCUMENTS and entry.file_size > limits.document_bytes:
            raise too_big(
                file.name,
                what=f"its document {entry.filename}",
                size=entry.file_size,
                limit=limits.document_bytes,
                setting="NARRATE_EPUB_DOCUMENT_MAX_BYTES",
            )
    for entry in entries:
        _inflate_within(archive, entry, name=file.name)


def _inflate_within(archive: zipfile.ZipFile, entry: zipfile.ZipInfo, *, name: str) -> None:
    """The entry inflated a block at a time, so memory stays flat.

    zipfile stops at the declared size and checks the CRC.
    """
    try:
        with archive.open(entry) as stream:
            while stream.read(_BLOCK):
                pass
    except zipfile.BadZipFile:
        raise BadInput(
            f"{name}: its entry {entry.filename} does not unpack to the {entry.file_size:,} bytes it declares"
            " (a damaged or crafted archive); re-download or re-export it"
        ) from None


def check_cover(name: str, *, cover: bytes | None, where: str, limit: int) -> None:
    """A cover over the limit is refused here, as the assembly would refuse to embed it in the .m4b."""
    if cover is not None and len(cover) > limit:
        # imported when used: it brings S3's client, which reading needs not
        from worker.books.cover import cover_too_big

        raise cover_too_big(name, size=len(cover), limit=limit, where=where)
