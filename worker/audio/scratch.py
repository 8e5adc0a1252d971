"""Scratch folders for audio being made on local disk: removed however the work ends, a full disk a retry for later.

A folder is named `narrate-<kind>-<pid>-<host>-…` for the process that made it. One killed outright (out of
memory, a hard time limit, an evicted pod) leaves its folder behind; `sweep` removes those whose owner is not
running any more (same host, no such process) or that are older than any task may run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from worker.errors import TransientError

# A chapter's spool (worker.books.spool), a long job's joined audio (worker.jobs.render), a book's parts and .m4b
# (worker.books.book: its folders are swept by age until it names them for their owner here).
KINDS = ("chapter", "job", "book")


class DiskFull(TransientError):
    """The disk under a scratch folder filled up: another worker (or this one, later) has room."""

    cause = "disk_full"


def host_tag() -> str:
    # Host names may hold dashes and dots; a short digest keeps the folder name parseable.
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


@contextlib.contextmanager
def scratch_folder(*, kind: str, doing: str, fix: str) -> Iterator[Path]:
    """A fresh folder under the temporary folder, removed on the way out; ENOSPC inside becomes DiskFull.

    `doing` and `fix` make its message: "out of disk space while {doing}: {error}; {fix}".
    """
    assert kind in KINDS, kind
    try:
        with tempfile.TemporaryDirectory(
            prefix=f"narrate-{kind}-{os.getpid()}-{host_tag()}-", ignore_cleanup_errors=True
        ) as folder:
            yield Path(folder)
    except OSError as exc:
        if exc.errno != errno.ENOSPC:
            raise
        # The folder is gone already (TemporaryDirectory's exit ran first): what it held is free again.
        raise DiskFull(f"out of disk space while {doing}: {exc}; {fix}") from exc


def sweep(*, root: Path, stale_after: float, now: float | None = None) -> list[Path]:
    """Remove the scratch folders under `root` whose owner is gone or that are older than `stale_after` seconds."""
    now = time.time() if now is None else now
    removed = []
    for kind in KINDS:
        for folder in root.glob(f"narrate-{kind}-*"):
            try:
                age = now - folder.lstat().st_mtime
            except FileNotFoundError:
                continue  # its owner finished meanwhile
            if folder.is_symlink() or not folder.is_dir():
                continue
            if age > stale_after or _owner_gone(folder.name.removeprefix(f"narrate-{kind}-")):
                shutil.rmtree(folder, ignore_errors=True)
                removed.append(folder)
    return removed


def _owner_gone(owner: str) -> bool:
    """True only when `<pid>-<host>-…` names a process of this host that no longer runs; unknown owners wait for
    their age."""
    pid, _, rest = owner.partition("-")
    host, _, _ = rest.partition("-")
    if not pid.isdigit() or host != host_tag():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False
