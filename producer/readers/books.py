"""Read books (.txt, .md, .epub) into chapters of clean, speakable text."""

from __future__ import annotations

import codecs
from pathlib import Path

from producer.readers.booktext import BookText, ChapterText, required_text
from producer.readers.epub import read_epub
from producer.readers.markdown import read_markdown
from worker.errors import BadInput
from worker.text.normalize import normalize_text

__all__ = ["BOOK_SUFFIXES", "BookText", "ChapterText", "decode_text", "is_book", "read_book"]

BOOK_SUFFIXES: tuple[str, ...] = (".txt", ".text", ".md", ".markdown", ".epub")


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
        return read_epub(file)
    try:
        text = decode_text(file.read_bytes(), file.name)
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    if suffix in (".md", ".markdown"):
        return read_markdown(file, text)
    chapters = [ChapterText(file.stem, required_text(normalize_text(text), file.name))]
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
        raise BadInput(
            f"{name}: not {what} (invalid byte at offset {exc.start + skip});"
            " convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from exc
    if "\x00" in text:
        raise BadInput(f"{name}: contains NUL bytes; if it is UTF-16, save it with a byte-order mark or as UTF-8")
    return text


def is_book(path: str) -> bool:
    return Path(path).suffix.lower() in BOOK_SUFFIXES and Path(path).suffix.lower() not in (".txt", ".text")
