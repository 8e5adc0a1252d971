"""`narrate pipelines`: the scheduled pipelines of NARRATE_PIPELINES_FILE."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from producer.cli import options
from producer.cli.console import console, fail, settings_or_exit
from producer.pipelines.boundary import grant_for
from producer.pipelines.config import read_pipelines
from producer.pipelines.context import InboxContext
from producer.pipelines.run import run_once
from producer.pipelines.schedule import Schedule
from producer.pipelines.status import pipeline_status
from worker.errors import BadInput
from worker.infra.redisconn import connect_with

pipelines_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Scheduled pipelines: watched inboxes and recurring narration."
)


@pipelines_app.command()
def check(path: Annotated[Path, typer.Argument(help="A pipelines file (YAML).", metavar="FILE")]) -> None:
    """Validate a pipelines file: each error names its line and says what to change; show what each pipeline's
    files may reach."""
    try:
        found = read_pipelines(path)
    except BadInput as exc:
        fail(str(exc))
    for pipeline in found.pipelines:
        watched = pipeline.inbox if pipeline.kind == "inbox" else pipeline.recurring
        when = f"every {pipeline.every}" if pipeline.every else f"cron {pipeline.cron} ({pipeline.timezone})"
        console.print(
            f"{pipeline.name}: {pipeline.kind} {watched} -> {pipeline.out}, {when}", markup=False, soft_wrap=True
        )
        for line in grant_for(pipeline).describe():  # what a file dropped into it may name
            console.print(f"  {line}", markup=False, soft_wrap=True)
    console.print(f"{path}: {len(found.pipelines)} pipeline(s), valid", markup=False, soft_wrap=True)


def _pipelines(settings) -> list:  # noqa: ANN001
    if not settings.pipelines_file:
        fail("no pipelines file: set NARRATE_PIPELINES_FILE to a YAML file (see `narrate pipelines check`)")
    try:
        return read_pipelines(Path(settings.pipelines_file)).pipelines
    except BadInput as exc:
        fail(str(exc))


@pipelines_app.command("list")
def list_() -> None:
    """The pipelines of NARRATE_PIPELINES_FILE, with their next run."""
    settings = settings_or_exit()
    schedule = Schedule(connect_with(settings))
    table = Table("name", "kind", "source", "out", "schedule", "next run")
    for pipeline in _pipelines(settings):
        when = f"every {pipeline.every}" if pipeline.every else f"{pipeline.cron} ({pipeline.timezone})"
        upcoming = schedule.next_at(pipeline)
        table.add_row(
            pipeline.name,
            pipeline.kind,
            pipeline.inbox or pipeline.recurring,
            pipeline.out,
            when,
            _when(upcoming) if upcoming else "at beat's next tick",
        )
    console.print(table)


@pipelines_app.command()
def status(
    name: Annotated[str | None, typer.Argument(help="One pipeline; all when left out.")] = None,
    as_json: options.Json = False,
) -> None:
    """Last run, files in flight or held back (with why), totals and today's spend."""
    settings = settings_or_exit()
    client = connect_with(settings)
    chosen = [p for p in _pipelines(settings) if name in (None, p.name)]
    if name and not chosen:
        fail(f"no pipeline named {name!r} in {settings.pipelines_file}")
    found = [pipeline_status(client, p.name) for p in chosen]
    if as_json:
        print(json.dumps(found, indent=2))
        return
    for entry in found:
        last = entry["last_run"]
        console.print(
            f"{entry['name']}: last run {_when(last['at']) if last else 'never'}, {entry['in_flight']} in flight,"
            f" totals {entry['totals']}, spent today ${entry['spent_today_usd']:.2f}",
            markup=False,
            soft_wrap=True,
        )
        for key, reason in entry["held"].items():
            console.print(f"  held: {key}: {reason}", markup=False, soft_wrap=True)
        if last and last.get("error"):
            console.print(f"  last run: {last['error']}", markup=False, soft_wrap=True)
        for problem in entry["problems"]:
            console.print(f"  filing {problem['source']}: {'; '.join(problem['notes'])}", markup=False, soft_wrap=True)


@pipelines_app.command()
def run(name: Annotated[str, typer.Argument(help="The pipeline to run now.")]) -> None:
    """Run one pipeline now, in this process: settle and scan an inbox, or render a recurring object."""
    settings = settings_or_exit()
    pipeline = next((p for p in _pipelines(settings) if p.name == name), None)
    if pipeline is None:
        fail(f"no pipeline named {name!r} in {settings.pipelines_file}")
    outcome = run_once(pipeline, ctx=InboxContext.from_settings(settings))
    console.print(f"{name}: " + ", ".join(f"{len(v)} {k}" for k, v in outcome.items()), markup=False, soft_wrap=True)


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")
