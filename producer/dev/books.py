"""`narrate dev BOOK.epub`: render books on the local stack and save the audiobook to ./out."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from producer.cli.progress import watch_book
from producer.readers.books import BookText
from producer.submit.books import BookSubmitter
from producer.submit.clips import PreparedVoice
from worker import keys
from worker.books.state import BookState
from worker.settings import Settings
from worker.storage import Storage


def render_book(settings: Settings, book: BookText, *, voice: PreparedVoice, bucket: str, fmt: str, out_dir: Path, console: Console) -> bool:
    """Submit one book, show per-chapter progress, save its outputs; True when it succeeded."""
    plan, cost = BookSubmitter.from_settings(settings).submit(book, voice=voice, out=f"s3://{bucket}/books", fmt=fmt)
    console.print(
        f"book {plan.book_id[:8]}: {book.title!r}, {len(plan.chapters)} chapters, {plan.chunk_count} chunks,"
        f" estimated ${cost.uncached_cost_usd:.4f}",
        markup=False,
    )
    record = watch_book(BookState.from_url(settings.broker_url), plan.book_id, console=console)
    if record.get("state") != "succeeded":
        console.print(f"book failed: {record.get('error')}", markup=False)
        return False
    folder = out_dir / Path(book.source).stem
    manifest = _download(Storage(), bucket=bucket, prefix="books", book_id=plan.book_id, folder=folder, fmt=fmt, chapters=len(plan.chapters))
    console.print(_chapters_table(manifest))
    chunks = manifest["chunks"]
    console.print(
        f"{folder}/book.m4b: {manifest['chapters'][-1]['end_seconds']:.1f}s, {chunks['rendered']} chunks rendered,"
        f" {chunks['reused']} reused, {manifest['bytes_billed']:,} bytes billed; ACX: {'pass' if manifest['acx_pass'] else 'see report'}",
        markup=False,
    )
    return True


def _download(storage: Storage, *, bucket: str, prefix: str, book_id: str, folder: Path, fmt: str, chapters: int) -> dict:
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {
        "book.m4b": keys.book_audio(prefix, book_id),
        "chapters.json": keys.book_sidecar(prefix, book_id, "json"),
        "book.srt": keys.book_sidecar(prefix, book_id, "srt"),
        "book.vtt": keys.book_sidecar(prefix, book_id, "vtt"),
        "manifest.json": keys.book_manifest(prefix, book_id),
        **{f"chapter-{i + 1:03d}.{fmt}": keys.book_chapter_audio(prefix, book_id, i, fmt) for i in range(chapters)},
    }
    for name, key in wanted.items():
        data = storage.get(bucket, key)
        if data is not None:
            (folder / name).write_bytes(data)
    return json.loads((folder / "manifest.json").read_text())


def _chapters_table(manifest: dict) -> Table:
    table = Table(title=f"{manifest['title']}: chapters")
    for column in ("#", "title", "start", "chunks", "RMS dB", "peak dB", "noise floor dB", "ACX"):
        table.add_column(column, justify="right" if column not in ("title", "ACX") else "left")
    for chapter in manifest["chapters"]:
        report = chapter["loudness"] or {}
        checks = report.get("checks", {})
        verdict = "pass" if report.get("pass") else "fail: " + ", ".join(k for k, v in checks.items() if not v["pass"])
        table.add_row(str(chapter["index"] + 1), chapter["title"], f"{chapter['start_seconds']:.1f}s", str(chapter["chunks"]),
                      f"{report.get('rms_db', 0):.1f}", f"{report.get('peak_db', 0):.1f}", f"{report.get('noise_floor_db', 0):.1f}", verdict)  # fmt: skip
    return table
