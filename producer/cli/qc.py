"""`narrate qc ID`: what proof-listening left for a person, so that they listen to those seconds only.

Per chapter: takes heard, retakes, chunks left failing and not heard; then every chunk left failing with where it is
in the chapter file, its text, what was heard and the kind of each fault. A book's id or a single job's.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from producer.cli import options
from producer.cli.console import EXIT_JOB_FAILED, console, fail, settings_or_exit
from producer.cli.progress import UnknownJobs
from producer.cli.qc_report import ReportMissing, book_report, job_report
from worker.books.state import BookState
from worker.errors import NarrateError
from worker.jobs.records import JobStore
from worker.storage import Storage

NOT_HEARD = "was not heard: proof-listening was off (--qc report or --qc retake hears every take)"


def register(app: typer.Typer) -> None:
    """Add `narrate qc` to the `narrate` app."""
    app.command("qc")(qc)


def qc(
    book_id: Annotated[str, typer.Argument(help="A book id printed by `narrate book` (or a job id).")],
    as_json: options.Json = False,
) -> None:
    """What proof-listening left for a person: per chapter, takes heard, retakes and chunks left failing; then each
    chunk left failing, with its seconds in the chapter file, its text, what was heard and its faults."""
    settings = settings_or_exit()
    state = BookState.from_url(settings.broker_url, master_name=settings.redis_master_name)
    storage = Storage.from_settings(settings)
    try:
        book = state.get(book_id)
        if book is not None:
            report = book_report(book, state=state, storage=storage)
        else:
            record = JobStore(state.client).get(book_id)
            if record is None:
                fail(str(UnknownJobs([book_id])))
            report = job_report(record, storage=storage) or {
                "job_id": book_id,
                "title": record.title,
                "state": record.state,
                "mode": None,
            }
    except (ReportMissing, NarrateError) as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        _print(report)
    if report["mode"] is None and report["state"] == "failed":
        raise typer.Exit(EXIT_JOB_FAILED)


def _print(report: dict[str, Any]) -> None:
    kind, ident = ("book", report["book_id"]) if "book_id" in report else ("job", report["job_id"])
    name = f"{kind} {ident} ({report['title']})" if report["title"] else f"{kind} {ident}"
    if report["mode"] is None:
        _say(f"{name} is {report['state']}: its report is written with its manifest, when it succeeds")
        return
    if report["mode"] == "off":
        _say(f"{name} {NOT_HEARD}")
        return
    _say(f"{name}: {report['state']}, heard with --qc {report['mode']}")
    unheard = (
        f", {report['not_heard']} not heard (Fish could not hear them, e.g. under a second long)"
        if report["not_heard"]
        else ""
    )
    _say(heard_line(report) + unheard)
    if "chapters" in report:
        console.print(_chapters_table(report["chapters"]))  # a table fits the terminal
        places = [(chapter, chunk) for chapter in report["chapters"] for chunk in chapter["failing"]]
    else:
        places = [({"output_url": report["output_url"]}, chunk) for chunk in report["failing"]]
    if not places:
        _say("nothing left failing: no chunk needs a person")
        return
    _say("\nleft failing after their retakes: listen to these seconds")
    for chapter, chunk in places:
        _say(_where(chapter, chunk))
        _say(f"  text:   {chunk['text']}")
        _say(f"  heard:  {chunk['heard']}")
        _say(f"  faults: {', '.join(fault['kind'] for fault in chunk['faults']) or 'none named'}")


def _say(line: str) -> None:
    """One line, however long: read and grepped as written (a URL or a text is never broken)."""
    console.print(line, soft_wrap=True)


def heard_line(totals: dict[str, Any]) -> str:
    """Takes heard, retakes and chunks left failing, in one line (`narrate status` shows it too)."""
    return (
        f"heard: {totals['takes_heard']} takes, {totals['retakes']} retakes,"
        f" {totals['left_failing']} chunks left failing"
    )


def clock(seconds: float) -> str:
    """m:ss.s (minutes uncapped): 75.34 -> 1:15.3."""
    minutes, tenths = divmod(round(seconds * 10), 600)
    return f"{minutes}:{tenths // 10:02d}.{tenths % 10}"


def _where(chapter: dict[str, Any], chunk: dict[str, Any]) -> str:
    where = f"chapter {chapter['index'] + 1} {chapter['title']}, " if "index" in chapter else ""
    if chunk["start_seconds"] is None:
        return f"{where}chunk {chunk['chunk']}: position not known yet (the chapter file is not made)"
    start, end = chunk["start_seconds"], chunk["end_seconds"]
    return (
        f"{where}chunk {chunk['chunk']}: {clock(start)}-{clock(end)} ({start:.3f}-{end:.3f} s)"
        f" in {chapter['output_url'] or 'the file'}"
    )


def _chapters_table(chapters: list[dict[str, Any]]) -> Table:
    table = Table()
    for column in ("chapter", "title", "chunks heard", "takes", "retakes", "left failing", "not heard", "file"):
        table.add_column(column, overflow="fold")
    for chapter in chapters:
        table.add_row(
            str(chapter["index"] + 1),
            chapter["title"],
            *(str(chapter[k]) for k in ("chunks_heard", "takes_heard", "retakes", "left_failing", "not_heard")),
            "made" if chapter["assembled"] else "not yet",
        )
    return table
