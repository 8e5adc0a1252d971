"""Read the texts to narrate: plain text files and stdin ('-')."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from worker.errors import BadInput

TEXT_SUFFIXES = {".txt", ".text", ".md", ""}


@dataclass(frozen=True)
class TextSource:
    name: str  # the file name, or "stdin"
    text: str


def read_text(path: str, *, stdin: TextIO | None = None) -> TextSource:
    """One source's text, or BadInput saying what is wrong with it and how to fix it."""
    if path == "-":
        stream = stdin or sys.stdin
        return _checked("stdin", stream.read())
    file = Path(path)
    if not file.exists():
        raise BadInput(f"{path}: no such file")
    if file.is_dir():
        raise BadInput(f"{path}: is a directory; pass the text files inside it")
    if file.suffix.lower() not in TEXT_SUFFIXES:
        raise BadInput(f"{path}: unsupported file type {file.suffix!r}; pass a plain text file (.txt or .md)")
    try:
        raw = file.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadInput(
            f"{path}: not UTF-8 text (invalid byte at offset {exc.start}); convert it, e.g. `iconv -f latin1 -t utf-8`"
        ) from exc
    return _checked(file.name, text)


def _checked(name: str, text: str) -> TextSource:
    if not text.strip():
        raise BadInput(f"{name}: the text is empty or only whitespace; nothing to narrate")
    if "\x00" in text:
        raise BadInput(f"{name}: contains NUL bytes; is it really a text file?")
    return TextSource(name=name, text=text)
