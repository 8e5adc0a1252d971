"""`narrate takes BOOK_ID`: every passage of a book with its takes, so a person finds the one to hear or change.

Each passage (a chunk, numbered from 1 within its chapter) with its place in the chapter file, its text, and each
take: when it was made, what was heard in it, the verdict, and which take is chosen. `--flagged` keeps the passages
whose chosen take proof-listening failed; `--chapter N` one chapter.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from producer.cli import options
from producer.cli.console import EXIT_JOB_FAILED, console, fail, settings_or_exit
from producer.cli.qc_report import ReportMissing, book_plan
from producer.review.passages import Passage, book_passages
from worker.books.state import BookState
from worker.errors import NarrateError
from worker.storage import Storage


def register(app: typer.Typer) -> None:
    """Add `narrate takes` to the `narrate` app."""
    app.command("takes")(takes)


def takes(
    book_id: Annotated[str, typer.Argument(help="A book id printed by `narrate book`.")],
    chapter: Annotated[int | None, typer.Option("--chapter", min=1, help="Only this chapter (1 is the first).")] = None,
    flagged: Annotated[
        bool, typer.Option("--flagged", help="Only passages whose chosen take proof-listening failed.")
    ] = False,
    as_json: options.Json = False,
) -> None:
    """Every passage of a book with its takes: its seconds in the chapter file, its text, each take's verdict and
    what was heard, and which take is chosen."""
    settings = settings_or_exit()
    state = BookState.from_url(settings.broker_url, master_name=settings.redis_master_name)
    book = state.get(book_id)
    if book is None:
        fail(f"no such book: {book_id} (a book id is printed by `narrate book`)")
    storage = Storage.from_settings(settings)
    try:
        plan = book_plan(book, storage)
        if chapter is not None and chapter > len(plan.chapters):
            fail(f"--chapter {chapter}: the book has {len(plan.chapters)} chapters")
        passages = book_passages(plan, book["chapters"], storage=storage, chapter=chapter)
    except (ReportMissing, NarrateError) as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    if flagged:
        passages = [p for p in passages if p.flagged]
    if as_json:
        print(json.dumps([p.to_json() for p in passages], indent=2))
    else:
        console.print(_table(passages, title=f"{book.get('title', '')} ({book_id}): {len(passages)} passages"))


def _table(passages: list[Passage], *, title: str) -> Table:
    table = Table(title=title)
    for column in ("passage", "seconds", "takes", "chosen", "text"):
        table.add_column(column, overflow="fold")
    for p in passages:
        chosen = next((t for t in p.takes if t.chosen), None)
        seconds = "" if p.start is None else f"{p.start:.2f}–{p.end:.2f}"
        verdict = "" if chosen is None else f"take {chosen.take}: {chosen.verdict or 'not heard'}"
        table.add_row(f"{p.chapter}.{p.chunk}", seconds, str(len(p.takes)), verdict, p.text, end_section=False)
    return table
