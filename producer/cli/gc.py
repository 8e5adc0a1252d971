"""`narrate gc s3://bucket[/prefix]`: chunks no live book needs, parts of finished books, abandoned uploads."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlsplit

import typer

from producer.cli.console import EXIT_JOB_FAILED, console, fail, settings_or_exit, warn
from producer.cli.options import Json
from worker.books import gc as garbage
from worker.books.state import BookState
from worker.errors import NarrateError
from worker.storage import Storage


def gc(
    target: Annotated[
        str,
        typer.Argument(
            metavar="s3://BUCKET[/PREFIX]",
            help="Chunks are the whole bucket's (chunks/); a prefix limits parts and uploads.",
        ),
    ],
    older_than_days: Annotated[
        float, typer.Option("--older-than-days", min=0, help="Only chunks written at least this many days ago.")
    ] = 30,
    apply: Annotated[bool, typer.Option("--apply", help="Delete for real (default: only show).")] = False,
    as_json: Json = False,
) -> None:
    """Delete what a bucket keeps for nothing: chunks no live book uses (older than D days), parts/ of finished or
    failed books, multipart uploads open for more than a day. A dry run unless --apply."""
    settings = settings_or_exit()
    parts = urlsplit(target)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        fail(f"{target!r}: expected s3://bucket[/prefix], the bucket (and prefix) to clean")
    storage, state = (
        Storage.from_settings(settings),
        BookState.from_url(settings.broker_url, master_name=settings.redis_master_name),
    )
    try:
        found = garbage.find(
            storage, state, bucket=parts.netloc, prefix=parts.path.strip("/"), older_than_days=older_than_days
        )
        if apply:
            garbage.collect(storage, state, found)
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    if as_json:
        print(json.dumps(found.to_json(applied=apply), indent=2))
        return
    _print(found, applied=apply)


def _print(found: garbage.Garbage, *, applied: bool) -> None:
    verb, abort = ("deleted", "aborted") if applied else ("would delete", "would abort")
    for item in (*found.chunks, *found.parts):
        console.print(
            f"{verb} s3://{found.bucket}/{item.key}  ({_size(item.size)}, {_date(item.modified)})",
            markup=False,
            soft_wrap=True,
        )
    for upload in found.uploads:
        started = _date(upload.started)
        console.print(
            f"{abort} upload of s3://{found.bucket}/{upload.key} started {started}", markup=False, soft_wrap=True
        )
    for note in found.notes:
        warn(note)
    kept = found.kept
    console.print(
        f"{verb} {len(found.chunks)} chunk(s) ({_size(sum(c.size for c in found.chunks))})"
        f" and {len(found.parts)} book part(s) "
        f"({_size(sum(p.size for p in found.parts))}); {abort} {len(found.uploads)} upload(s). "
        f"Kept: {kept['chunks_referenced']} chunk(s) a live book uses, "
        f"{kept['chunks_recent']} younger than {found.older_than_days:g} days, "
        f"{kept['parts_of_live_books']} part(s) of books still rendering."
        + ("" if applied else " Run again with --apply to delete."),
        markup=False,
        soft_wrap=True,
    )


def _size(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size:,} bytes"


def _date(when: float) -> str:
    return datetime.fromtimestamp(when, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
