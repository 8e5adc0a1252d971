"""A chapter's spool on local disk: in a scratch folder of its own, sized before it is paid for, swept at start.

A chapter task spools its speech and writes its files in a `narrate-chapter-…` scratch folder (worker.audio.scratch):
removed when the task ends, however it ends, unless the process is killed. A full disk is the machine's trouble, not
the book's: the step is retried later. Folders left by killed processes are swept as a worker and each of its pool
processes start, using the assembly hard time limit as the age no live chapter task reaches.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from math import ceil
from pathlib import Path

from worker.audio.aac import BOOK_BIT_RATE
from worker.audio.assembly import file_bytes_per_second
from worker.audio.scratch import scratch_folder, sweep

log = logging.getLogger("narrate.books")

SPOOL_SAMPLE_BYTES = 2  # pass one spools the speech as 16-bit mono samples


def spool_folder(*, chapter_index: int) -> contextlib.AbstractContextManager[Path]:
    """A fresh folder for one chapter's files, removed on the way out; a full disk becomes a DiskFull to retry."""
    return scratch_folder(
        kind="chapter",
        doing=f"spooling chapter {chapter_index}",
        fix=f"free space under {tempfile.gettempdir()} or give the assembly workers more (NARRATE_SPOOL_LIMIT_BYTES"
        " per task); the chapter is retried",
    )


def spool_bytes(*, seconds: float, rate: int, fmt: str, bit_rate: int | None, sample_seconds: float = 0.0) -> int:
    """The most a chapter of `seconds` of audio holds in its folder at once.

    Near its end the spooled speech, the chapter file and the book part are all there, and the retail sample
    (`sample_seconds` of the chapter's format) in the chapter that has one.
    """
    file_rate = file_bytes_per_second(fmt, rate=rate, bit_rate=bit_rate)
    per_second = SPOOL_SAMPLE_BYTES * rate + file_rate + BOOK_BIT_RATE / 8
    return ceil(seconds * per_second + sample_seconds * file_rate)


def sweep_at_start(*, stale_after: float) -> None:
    """At the worker's start and as each pool process starts (also one replacing a process killed mid-task).

    `stale_after`: the chapter task's hard time limit, the longest of any task's. Connected to Celery's start
    signals by worker/books/tasks.py.
    """
    try:
        removed = sweep(root=Path(tempfile.gettempdir()), stale_after=stale_after)
    except OSError as exc:  # never stop a worker from starting over a folder it could not read
        log.warning("could not sweep stale scratch folders: %s", exc)
        return
    if removed:
        log.info(
            "removed %d scratch folder(s) left by stopped processes: %s",
            len(removed),
            ", ".join(p.name for p in removed),
        )
