"""Chapter spool folders: a full disk is a retry with the folder gone, and folders of stopped processes are swept."""

from __future__ import annotations

import errno
import os
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from celery import signals

from worker.audio.scratch import DiskFull, host_tag, sweep
from worker.books.spool import spool_folder, sweep_at_start
from worker.errors import TransientError

HOUR = 3600.0
PREFIX = "narrate-chapter-"


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def folder(root: Path, name: str, *, age: float = 0.0) -> Path:
    path = root / name
    path.mkdir()
    (path / "speech.s16").write_bytes(b"\0" * 64)
    then = time.time() - age
    os.utime(path, (then, then))
    return path


def test_a_full_disk_while_spooling_is_transient_names_the_chapter_and_leaves_no_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(
        DiskFull, match=r"^out of disk space while spooling chapter 7: .*No space left.*NARRATE_SPOOL_LIMIT_BYTES"
    ) as caught:
        with spool_folder(chapter_index=7) as spool:
            assert spool.parent == tmp_path and spool.name.startswith(f"{PREFIX}{os.getpid()}-{host_tag()}-")
            (spool / "speech.s16").write_bytes(b"\0" * 1024)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert isinstance(caught.value, TransientError)
    assert list(tmp_path.iterdir()) == []


def test_other_errors_pass_through_and_the_folder_still_goes(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(PermissionError):
        with spool_folder(chapter_index=0) as spool:
            (spool / "speech.s16").write_bytes(b"\0")
            raise PermissionError(errno.EACCES, "denied")
    assert list(tmp_path.iterdir()) == []


def test_the_sweep_removes_scratch_folders_of_stopped_processes_and_old_ones_only(tmp_path) -> None:
    host, me = host_tag(), os.getpid()
    gone = folder(tmp_path, f"{PREFIX}{dead_pid()}-{host}-abc")
    mine = folder(tmp_path, f"{PREFIX}{me}-{host}-def")
    mine_but_older_than_any_task = folder(tmp_path, f"{PREFIX}{me}-{host}-ghi", age=2 * HOUR)
    other_machines = folder(tmp_path, f"{PREFIX}{dead_pid()}-00000000-jkl")  # its PIDs are not ours to judge
    unnamed_young = folder(tmp_path, f"{PREFIX}x1y2z3")  # from before folders named their owner
    unnamed_old = folder(tmp_path, f"{PREFIX}q9r8s7", age=2 * HOUR)
    job_gone = folder(tmp_path, f"narrate-job-{dead_pid()}-{host}-mno")
    book_old, book_young = folder(tmp_path, "narrate-book-abc", age=2 * HOUR), folder(tmp_path, "narrate-book-def")
    others = folder(tmp_path, "narrate-metrics-abc", age=2 * HOUR)
    (tmp_path / f"{PREFIX}not-a-folder").write_text("x")

    removed = sweep(root=tmp_path, stale_after=HOUR)

    assert sorted(removed) == sorted([gone, mine_but_older_than_any_task, unnamed_old, job_gone, book_old])
    assert not any(p.exists() for p in removed)
    assert all(p.exists() for p in (mine, other_machines, unnamed_young, book_young, others))
    assert (tmp_path / f"{PREFIX}not-a-folder").is_file()


def test_the_start_sweep_looks_in_the_temporary_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = folder(tmp_path, f"{PREFIX}{dead_pid()}-{host_tag()}-abc")
    old = folder(tmp_path, f"{PREFIX}{os.getpid()}-{host_tag()}-def", age=2 * HOUR)
    live = folder(tmp_path, f"{PREFIX}{os.getpid()}-{host_tag()}-ghi")
    sweep_at_start(stale_after=HOUR)
    assert not gone.exists() and not old.exists() and live.exists()


@pytest.mark.parametrize("signal", [signals.worker_init, signals.worker_process_init], ids=["worker", "pool-process"])
def test_a_starting_worker_sweeps_with_the_chapter_tasks_hard_limit(signal, tmp_path, monkeypatch) -> None:
    from worker.books.tasks import ChapterTask  # what `celery -A worker worker` loads: the sweep comes with it

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = folder(tmp_path, f"{PREFIX}{dead_pid()}-{host_tag()}-abc")
    old = folder(tmp_path, f"{PREFIX}{os.getpid()}-{host_tag()}-def", age=ChapterTask.time_limit + 60)
    live = folder(tmp_path, f"{PREFIX}{os.getpid()}-{host_tag()}-ghi", age=ChapterTask.time_limit - 60)
    signal.send(sender=None)
    assert not gone.exists() and not old.exists() and live.exists()
