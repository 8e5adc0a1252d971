"""The reads a pipeline makes of untrusted bytes, as functions a bounded child process runs (see bounded.py).

Each takes and returns plain, picklable values and touches neither S3 nor the
broker's queues: the parent fetches, the child only reads what was fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from producer.readers.books import decode_text, read_book
from producer.readers.booktext import BookText
from producer.readers.manifest import manifest_items
from producer.readers.selection import ChapterChoice
from producer.readers.text import TextSource
from producer.submit.manifests import Work, plan_work
from worker.contract import Synthesis
from worker.settings import Settings


def text_source(data: bytes, name: str) -> TextSource:
    return TextSource(name, decode_text(data, name))


def book_file(path: str) -> BookText:
    return read_book(path)


def manifest_entries(data: bytes, name: str) -> tuple[str, list[tuple[int, Any]]]:
    """The manifest's raw entries, numbered; pickling keeps a YAML alias one object, so nothing is expanded on the way back."""
    return manifest_items(decode_text(data, name), name)


def manifest_work(
    settings: Settings, path: str, *, preset: str | None, chapters: ChapterChoice, synthesis: Synthesis
) -> Work:
    """The completed manifest at `path` read, its books read and its voices prepared (named voices looked up in Redis)."""
    return plan_work(
        settings,
        [str(Path(path))],
        out=None,
        fmt=None,
        cli_voice=(None, None, None, None),
        preset=preset,
        chapters=chapters,
        synthesis=synthesis,
    )
