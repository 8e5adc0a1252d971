"""`narrate dev BOOK.epub`: render books on the local stack and save the audiobook to ./out."""

from __future__ import annotations

import json
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from producer.cli.progress import watch_book
from producer.dev.results import heard_summary
from producer.readers.books import BookText
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice
from producer.submit.books import BookSubmitter
from producer.submit.clips import PreparedVoice
from producer.submit.lexicons import Lexicons
from producer.submit.read_along import ReadAlongSource
from worker import keys
from worker.books.state import BookState
from worker.contract import Synthesis
from worker.settings import Settings
from worker.storage import Storage


def render_book(
    settings: Settings,
    book: BookText,
    *,
    voice: PreparedVoice,
    bucket: str,
    fmt: str,
    out_dir: Path,
    console: Console,
    preset: str | None = None,
    chapters: ChapterChoice = ChapterChoice(),
    synthesis: Synthesis = Synthesis(),
    lexicons: Lexicons = Lexicons(),
    qc: QcChoice = NOT_ASKED,
    read_along: ReadAlongSource | None = None,
) -> bool:
    """Submit one book, show per-chapter progress, save its outputs; True when it succeeded."""
    plan, cost = BookSubmitter.from_settings(settings).submit(
        book,
        voice=voice,
        out=f"s3://{bucket}/books",
        fmt=fmt,
        preset=preset,
        chapters=chapters,
        synthesis=synthesis,
        lexicons=lexicons,
        qc=qc,
        read_along=read_along,
    )
    console.print(
        f"book {plan.book_id[:8]}: {book.title!r}, {len(plan.chapters)} chapters, {plan.chunk_count} chunks,"
        f" estimated ${cost.total_cost_usd:.4f}" + ("" if cost.qc == "off" else f" with --qc {cost.qc}"),
        markup=False,
    )
    record = watch_book(
        BookState.from_url(settings.broker_url, master_name=settings.redis_master_name), plan.book_id, console=console
    )
    if record.get("state") != "succeeded":
        console.print(f"book failed: {record.get('error')}", markup=False)
        return False
    folder = out_dir / Path(book.source).stem
    manifest = _download(
        Storage(),
        bucket=bucket,
        prefix="books",
        book_id=plan.book_id,
        folder=folder,
        fmt=plan.output.format,
        chapters=len(plan.chapters),
    )
    console.print(_chapters_table(manifest, width=console.width))
    if (folder / "readalong.epub").exists():
        console.print(f"{folder}/readalong.epub: the text, each sentence highlighted as it is heard", markup=False)
    chunks = manifest["chunks"]
    console.print(
        f"{folder}/book.m4b: {manifest['chapters'][-1]['end_seconds']:.1f}s, {chunks['rendered']} chunks rendered,"
        f" {chunks['reused']} reused, {manifest['bytes_billed']:,} bytes billed;"
        f" ACX: {'pass' if manifest['acx_pass'] else 'see report'}; heard: {heard_summary(manifest.get('qc'))}",
        markup=False,
    )
    return True


def _download(
    storage: Storage, *, bucket: str, prefix: str, book_id: str, folder: Path, fmt: str, chapters: int
) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {
        "book.m4b": keys.book_audio(prefix, book_id),
        "chapters.json": keys.book_sidecar(prefix, book_id, "json"),
        "book.srt": keys.book_sidecar(prefix, book_id, "srt"),
        "book.vtt": keys.book_sidecar(prefix, book_id, "vtt"),
        "manifest.json": keys.book_manifest(prefix, book_id),
        "readalong.epub": keys.book_read_along(prefix, book_id),
        f"sample.{fmt}": keys.book_retail_sample(prefix, book_id, fmt),
        **{f"chapter-{i + 1:03d}.{fmt}": keys.book_chapter_audio(prefix, book_id, i, fmt) for i in range(chapters)},
    }
    for name, key in wanted.items():
        data = storage.get(bucket, key)
        if data is not None:
            (folder / name).write_bytes(data)
    return json.loads((folder / "manifest.json").read_text())


def _chapters_table(manifest: dict, *, width: int = 80) -> Table:
    """One line per chapter within `width` columns: long titles are cut, levels in dB, ACX names what fails."""
    table = Table(title=f"{manifest['title']}: chapters", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("#", justify="right", no_wrap=True)
    # The other columns take about 56; Rich would squeeze them all alike rather than cut the title.
    table.add_column("title", no_wrap=True, overflow="ellipsis", max_width=max(12, width - 56))
    for column in ("start", "RMS", "peak", "floor"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("ACX", no_wrap=True)
    for chapter in manifest["chapters"]:
        report = chapter["loudness"] or {}
        failing = [_CHECK_NAMES.get(k, k) for k, v in report.get("checks", {}).items() if not v["pass"]]
        table.add_row(
            str(chapter["index"] + 1),
            chapter["title"],
            _clock(chapter["start_seconds"]),
            f"{report.get('rms_db', 0):.1f}",
            f"{report.get('peak_db', 0):.1f}",
            f"{report.get('noise_floor_db', 0):.1f}",
            "pass" if report.get("pass") else "fail: " + " ".join(failing),
        )
    table.caption, table.caption_justify = (
        "RMS, peak and noise floor in dB; ACX: the audiobook store's checks (manifest.json)",
        "left",
    )
    return table


_CHECK_NAMES = {"noise_floor": "floor"}


def _clock(seconds: float) -> str:
    minutes, rest = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}" if hours else f"{minutes}:{rest:02d}"
