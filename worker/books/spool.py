"""A chapter's spool folder on local disk: named for its owner, turned into a retry when the disk is full, swept at start.

A chapter task spools its speech and writes its files in `narrate-chapter-<pid>-<host>-…` under the temporary
folder; the folder goes when the task ends, however it ends, unless the process is killed (out of memory, the hard
time limit, an evicted pod). The next worker process to start on the machine removes such folders: their owner
is not running any more (same host, no such process), or they are older than the assembly hard time limit, which
no live chapter task outlives. A full disk is the machine's trouble, not the book's: the step is retried later.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from math import ceil
from pathlib import Path

from worker.audio.aac import BOOK_BIT_RATE
from worker.audio.assembly import file_bytes_per_second
from worker.errors import TransientError

log = logging.getLogger("narrate.books")

PREFIX = "narrate-chapter-"
SPOOL_SAMPLE_BYTES = 2  # pass one spools the speech as 16-bit mono samples


class SpoolFull(TransientError):
    """The disk under the chapter's spool filled up: another worker (or this one, later) has room."""

    cause = "disk_full"


def _host_tag() -> str:
    # Host names may hold dashes and dots; a short digest keeps the folder name parseable.
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


@contextlib.contextmanager
def spool_folder(*, chapter_index: int) -> Iterator[Path]:
    """A fresh folder for one chapter's files, removed on the way out; a full disk becomes a SpoolFull to retry."""
    try:
        with tempfile.TemporaryDirectory(prefix=f"{PREFIX}{os.getpid()}-{_host_tag()}-", ignore_cleanup_errors=True) as folder:
            yield Path(folder)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        # The folder is gone already (TemporaryDirectory's exit ran first): what it held is free again.
        raise SpoolFull(
            f"out of disk space while spooling chapter {chapter_index}: {exc}; free space under {tempfile.gettempdir()}"
            " or give the assembly workers more (NARRATE_SPOOL_LIMIT_BYTES per task); the chapter is retried"
        ) from exc


def spool_bytes(*, seconds: float, rate: int, fmt: str, bit_rate: int | None, sample_seconds: float = 0.0) -> int:
    """The most a chapter of `seconds` of audio holds in its folder at once.

    Near its end the spooled speech, the chapter file and the book part are all there, and the retail sample
    (`sample_seconds` of the chapter's format) in the chapter that has one.
    """
    file_rate = file_bytes_per_second(fmt, rate=rate, bit_rate=bit_rate)
    per_second = SPOOL_SAMPLE_BYTES * rate + file_rate + BOOK_BIT_RATE / 8
    return ceil(seconds * per_second + sample_seconds * file_rate)


def sweep(*, root: Path, stale_after: float, now: float | None = None) -> list[Path]:
    """Remove the chapter folders under `root` whose owner is gone or that are older than `stale_after` seconds."""
    now = time.time() if now is None else now
    removed = []
    for folder in root.glob(f"{PREFIX}*"):
        try:
            age = now - folder.lstat().st_mtime
        except FileNotFoundError:
            continue  # its owner finished meanwhile
        if folder.is_symlink() or not folder.is_dir():
            continue
        if age > stale_after or _owner_gone(folder.name):
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _owner_gone(name: str) -> bool:
    """True only when the folder names a process of this host that no longer runs; unknown owners wait for their age."""
    pid, _, rest = name.removeprefix(PREFIX).partition("-")
    host, _, _ = rest.partition("-")
    if not pid.isdigit() or host != _host_tag():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


def sweep_at_start(*, stale_after: float) -> None:
    """At the worker's start and as each pool process starts (also one replacing a process killed mid-chapter).

    `stale_after`: the chapter task's hard time limit. Connected to Celery's start signals by worker/books/tasks.py.
    """
    try:
        removed = sweep(root=Path(tempfile.gettempdir()), stale_after=stale_after)
    except OSError as exc:  # never stop a worker from starting over a folder it could not read
        log.warning("could not sweep stale chapter folders: %s", exc)
        return
    if removed:
        log.info("removed %d chapter folder(s) left by stopped processes: %s", len(removed), ", ".join(p.name for p in removed))
