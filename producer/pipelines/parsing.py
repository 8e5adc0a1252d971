"""The reads a pipeline makes of untrusted bytes, as functions a bounded child process runs (see bounded.py).

Each takes and returns plain, picklable values and touches neither S3 nor the
broker's queues: the parent fetches, the child only reads what was fetched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from producer.readers.batch import batch_items
from producer.readers.books import decode_text, read_book
from producer.readers.booktext import BookText
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice
from producer.readers.text import TextSource
from producer.submit.batch_work import Work
from producer.submit.batches import plan_work
from worker.contract import Synthesis
from worker.settings import Settings


def text_source(data: bytes, name: str) -> TextSource:
    return TextSource(name, decode_text(data, name))


def book_file(path: str) -> BookText:
    return read_book(path)


def batch_entries(data: bytes, name: str) -> tuple[str, list[tuple[int, Any]]]:
    """The batch file's raw entries, numbered.

    Pickling keeps a YAML alias one object, so nothing is expanded on the way back.
    """
    return batch_items(decode_text(data, name), name)


def batch_work(
    settings: Settings,
    path: str,
    *,
    preset: str | None,
    chapters: ChapterChoice,
    synthesis: Synthesis,
    qc: QcChoice = NOT_ASKED,
) -> Work:
    """The completed batch file at `path` read, its books read and its voices prepared.

    Named voices are looked up in Redis.
    """
    return plan_work(
        settings,
        [str(Path(path))],
        out=None,
        fmt=None,
        cli_voice=(None, None, None, None),
        preset=preset,
        chapters=chapters,
        synthesis=synthesis,
        qc=qc,
    )
