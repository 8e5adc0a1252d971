"""`narrate status` and `narrate wait`: where jobs and books stand, and waiting for them to end."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from producer.cli import books as book_cli
from producer.cli import ops as ops_cli
from producer.cli import options, progress
from producer.cli.console import EXIT_JOB_FAILED, console, errors, fail, settings_or_exit, warn
from producer.cli.qc import heard_line
from producer.cli.qc_report import book_totals
from worker.books.state import BookState
from worker.jobs.records import JobRecord, JobStore
from worker.settings import Settings


def register(app: typer.Typer) -> None:
    """Add `narrate status` and `narrate wait` to the `narrate` app."""
    app.command()(status)
    app.command()(wait)


def status(
    job_ids: Annotated[
        list[str], typer.Argument(help="Job or book ids printed by `narrate submit` or `narrate book`.")
    ],
    as_json: options.Json = False,
) -> None:
    """Show each job's (or book's) state, attempts, voice mode, output or error."""
    settings = settings_or_exit()
    book_state = BookState.from_url(settings.broker_url, master_name=settings.redis_master_name)
    books = [b for b in (book_state.get(job_id) for job_id in job_ids) if b is not None]
    if books:
        books = [{**b, "qc": book_totals(b, state=book_state)} for b in books]  # None: nothing heard
        if as_json:
            print(
                json.dumps(
                    [progress.public(b) for b in books] if len(job_ids) > 1 else progress.public(books[0]), indent=2
                )
            )
        else:
            for book in books:
                console.print(progress.book_table(book))
                if book.get("read_along_url"):
                    console.print(f"read-along EPUB: {book['read_along_url']}", soft_wrap=True, markup=False)
                if book["qc"]:
                    console.print(f"{heard_line(book['qc'])} — `narrate qc {book['book_id']}`", soft_wrap=True)
        if any(b.get("state") == "failed" for b in books):
            raise typer.Exit(EXIT_JOB_FAILED)
        return
    try:
        records = progress.fetch(
            JobStore.from_url(settings.broker_url, master_name=settings.redis_master_name), job_ids
        )
    except progress.UnknownJobs as exc:
        fail(str(exc))
    notice = ops_cli.breaker_notice(settings)
    if notice:
        warn(notice)
    _report(records, as_json=as_json, failed=any(record.state == "failed" for record in records))


def wait(
    job_ids: Annotated[
        list[str], typer.Argument(help="Job or book ids printed by `narrate submit` or `narrate book`.")
    ],
    timeout: options.Timeout = None,
    as_json: options.Json = False,
) -> None:
    """Wait for jobs (or books) to finish, with progress bars; exit 1 if any failed or timed out."""
    settings = settings_or_exit()
    book_state = BookState.from_url(settings.broker_url, master_name=settings.redis_master_name)
    book_ids = [i for i in job_ids if book_state.get(i) is not None]
    books_ok = all(
        [book_cli.wait_for_book(settings, book_id, timeout=timeout, as_json=as_json) for book_id in book_ids]
    )
    jobs = [i for i in job_ids if i not in book_ids]
    if jobs:
        wait_and_report(settings, jobs, timeout=timeout, as_json=as_json, also_failed=not books_ok)
    elif not books_ok:
        raise typer.Exit(EXIT_JOB_FAILED)


def wait_and_report(
    settings: Settings, job_ids: list[str], *, timeout: float | None, as_json: bool, also_failed: bool = False
) -> None:
    store = JobStore.from_url(settings.broker_url, master_name=settings.redis_master_name)
    try:
        records = progress.wait_for(store, job_ids, console=errors if as_json else console, timeout=timeout)
    except progress.UnknownJobs as exc:
        fail(str(exc))
    _report(records, as_json=as_json, failed=also_failed or not all(record.state == "succeeded" for record in records))


def _report(records: list[JobRecord], *, as_json: bool, failed: bool) -> None:
    if as_json:
        print(json.dumps([progress.public(record.model_dump()) for record in records], indent=2))
    else:
        console.print(progress.records_table(records))
    if failed:
        raise typer.Exit(EXIT_JOB_FAILED)
