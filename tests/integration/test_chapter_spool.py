"""A chapter assembled on a disk that fills up: a retry for later, nothing left behind, the next try on room succeeds.

Real Redis, a real S3 API and the Fish emulator; the full disk is a real tmpfs of a few pages where this process may
mount one (as root), else the test says why it skipped. The error's path through pass one is also shown on any
machine, with the chapter's decoded speech ending in ENOSPC.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.support.epubs import fable
from worker.audio.scratch import DiskFull
from worker.books import chapter as chapter_module
from worker.books.chapter import assemble_chapter
from worker.books.chunk import render_chunk
from worker.books.context import BookContext
from worker.books.pcm import book_rate
from worker.books.plan import BookPlan, chunk_messages
from worker.books.state import BookState
from worker.errors import TransientError
from worker.fish.client import FishClient
from worker.renders.held import HeldRenders
from worker.settings import Settings, get_settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext


@pytest.fixture
def rendered(
    stack_env, redis_client, emulator, bucket, reference_clip, tmp_path, monkeypatch
) -> tuple[BookPlan, BookContext]:
    monkeypatch.setenv("NARRATE_PROMOTE_AFTER", "off")
    get_settings.cache_clear()
    settings = Settings()
    ctx = BookContext(
        render=RenderContext(
            settings=settings, storage=Storage(), fish=FishClient(settings), held=HeldRenders(redis_client)
        ),
        state=BookState(redis_client),
    )
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    plan, _ = BookSubmitter.from_settings(settings).submit(
        read_book(str(fable(tmp_path / "fable.epub"))), voice=voice, out=f"s3://{bucket}/spool"
    )
    for message in chunk_messages(plan):
        render_chunk(message, plan, ctx=ctx)
    return plan, ctx


@pytest.fixture
def small_disk(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable]:
    """Mounts a tmpfs of `size` bytes as the temporary folder; unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
        mounted.append(where)
        monkeypatch.setattr(tempfile, "tempdir", str(where))
        return where

    yield mount
    for where in mounted:
        subprocess.run(
            ["umount", "--lazy", str(where)], check=True
        )  # lazy: a failed test's open files never keep it mounted


def open_under(folder: Path) -> list[str]:
    """The files under `folder` this process holds open."""
    found = []
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith(f"{folder}/"):
                found.append(target)
    return found


def speech_bytes(plan: BookPlan, fields: dict, *, ctx: BookContext) -> int:
    """The chapter's spooled speech, from its file's length less its head and tail (16-bit mono samples)."""
    rate = book_rate(plan, ctx=ctx)
    head, tail = (round(s * rate) for s in (plan.pauses.head_seconds, plan.pauses.tail_seconds))
    return 2 * (round(fields["duration_seconds"] * rate) - head - tail)


@pytest.mark.parametrize("room", ["none", "speech-only"], ids=["in-pass-one", "in-the-encoders"])
def test_a_full_disk_is_a_retry_with_the_spool_gone_and_room_later_succeeds(
    rendered, small_disk, room, tmp_path, monkeypatch
) -> None:
    plan, ctx = rendered
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    fields = assemble_chapter(plan, 0, ctx=ctx)  # with room: how much speech the spool holds
    spooled = speech_bytes(plan, fields, ctx=ctx)
    assert spooled > 64 * 1024
    # No room for the speech at all; or room for it, so the chapter file and the book part written beside it fill the
    # disk.
    disk = small_disk(16 * 1024 if room == "none" else spooled + 16 * 1024)
    with pytest.raises(
        DiskFull, match=r"^out of disk space while spooling chapter 0: .*No space left on device"
    ) as caught:
        assemble_chapter(plan, 0, ctx=ctx)
    assert isinstance(caught.value, TransientError) and caught.value.__cause__.errno == errno.ENOSPC
    assert list(disk.iterdir()) == [], "the spool is removed"
    assert open_under(disk) == [], "and nothing of it is still open: a deleted file still open keeps its space"
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    assert assemble_chapter(plan, 0, ctx=ctx)["duration_seconds"] == fields["duration_seconds"]


def test_enospc_while_spooling_speech_becomes_a_retry_on_any_machine(rendered, tmp_path, monkeypatch) -> None:
    plan, ctx = rendered
    real = chapter_module.chapter_pcm

    def filling(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - the real blocks, then the disk is full
        yield from real(*args, **kwargs)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(chapter_module, "chapter_pcm", filling)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(DiskFull, match="out of disk space while spooling chapter 1"):
        assemble_chapter(plan, 1, ctx=ctx)
    assert list(tmp_path.glob("narrate-chapter-*")) == []
