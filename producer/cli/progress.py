"""Follow jobs and books in Redis: progress bars while they run, a table when they finish."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from worker.books.state import BookState
from worker.errors import BadInput
from worker.jobs.records import JobRecord, JobStore
from worker.webhooks.receivers import without_query


class UnknownJobs(LookupError):
    def __init__(self, job_ids: list[str]) -> None:
        super().__init__(
            f"no such job: {', '.join(job_ids)}"
            " (ids are printed by `narrate submit`; records expire after NARRATE_JOB_TTL_DAYS)"
        )
        self.job_ids = job_ids


def fetch(store: JobStore, job_ids: list[str]) -> list[JobRecord]:
    records = store.get_many(job_ids)
    missing = [job_id for job_id, record in zip(job_ids, records) if record is None]
    if missing:
        raise UnknownJobs(missing)
    return [record for record in records if record is not None]


def wait_for(
    store: JobStore, job_ids: list[str], *, console: Console, timeout: float | None = None, poll_seconds: float = 0.5
) -> list[JobRecord]:
    """Poll until every job has finished (or `timeout`), drawing one progress bar."""
    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(
        *columns, console=console, transient=False, disable=not console.is_terminal and console.quiet
    ) as progress:
        bar = progress.add_task("rendering", total=len(job_ids))
        while True:
            records = fetch(store, job_ids)
            done = sum(record.finished for record in records)
            progress.update(bar, completed=done, description=_summary(records))
            if done == len(records) or (deadline is not None and time.monotonic() >= deadline):
                return records
            time.sleep(poll_seconds)


def _summary(records: list[JobRecord]) -> str:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.state] = counts.get(record.state, 0) + 1
    order = ("queued", "running", "succeeded", "failed")
    return " ".join(f"{state} {counts[state]}" for state in order if counts.get(state))


def records_table(records: list[JobRecord], *, title: str | None = None) -> Table:
    table = Table(title=title)
    for column in ("job", "title", "state", "attempts", "voice mode", "duration", "output / error"):
        table.add_column(column, overflow="fold")
    styles = {"succeeded": "green", "failed": "red", "running": "cyan", "queued": "yellow"}
    for record in records:
        detail = record.error if record.state == "failed" or not record.output_url else record.output_url
        if record.notify_url:
            detail += f"\nwebhook: {record.notify_status or 'not sent yet'}"
        table.add_row(
            record.job_id,
            Text(record.title),
            Text(record.state, style=styles.get(record.state, "")),
            str(record.attempts),
            record.voice_mode,
            f"{record.duration_seconds:.1f}s" if record.duration_seconds else "",
            Text(detail),  # errors and titles are data, never markup
        )
    return table


FINISHED = ("succeeded", "failed")


def public(fields: dict[str, Any]) -> dict[str, Any]:
    """A job's or book's record as status shows it: its webhook URL without the query (often a token)."""
    if fields.get("notify_url"):
        return {**fields, "notify_url": without_query(fields["notify_url"])}
    return fields


def book_table(book: dict[str, Any]) -> Table:
    table = Table(title=f"{book.get('title')} ({book['book_id']}): {book.get('state')}")
    if book.get("notify_url"):
        table.caption = Text(
            f"webhook {without_query(book['notify_url'])}: {book.get('notify_status') or 'not sent yet'}"
        )
    for column in ("chapter", "title", "chunks", "state", "gain", "output"):
        table.add_column(column, overflow="fold")
    for chapter in book["chapters"]:
        done = chapter.get("chunks_total", 0) - chapter.get("remaining", 0)
        table.add_row(
            str(chapter["index"] + 1),
            chapter.get("title", ""),
            f"{done}/{chapter.get('chunks_total', 0)}",
            chapter.get("state", ""),
            f"{chapter.get('gain_db', '')}",
            chapter.get("output_url", ""),
        )
    return table


def watch_book(
    state: BookState, book_id: str, *, console: Console, timeout: float | None = None, poll_seconds: float = 0.5
) -> dict[str, Any]:
    """Per-chapter progress bars (chunks done / total, ETA) until the book has finished."""
    book = state.get(book_id)
    if book is None:
        raise BadInput(f"no such book: {book_id}")
    deadline = None if timeout is None else time.monotonic() + timeout
    columns = (TextColumn("{task.description}", markup=False), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, console=console) as progress:
        bars = [
            progress.add_task(f"{c['index'] + 1:>3} {c.get('title', '')[:40]}", total=c.get("chunks_total", 0))
            for c in book["chapters"]
        ]
        overall = progress.add_task("book", total=book.get("chunks_total", 0))
        while True:
            book = state.get(book_id) or book
            for bar, chapter in zip(bars, book["chapters"]):
                progress.update(bar, completed=chapter.get("chunks_total", 0) - chapter.get("remaining", 0))
            progress.update(overall, completed=book.get("chunks_done", 0), description=f"book: {book.get('state')}")
            if book.get("state") in FINISHED or (deadline is not None and time.monotonic() >= deadline):
                return book
            time.sleep(poll_seconds)
