"""`narrate pipelines`: the scheduled pipelines of NARRATE_PIPELINES_FILE."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from producer.cli.console import console, fail
from producer.pipelines.config import read_pipelines
from worker.errors import BadInput

pipelines_app = typer.Typer(no_args_is_help=True, rich_markup_mode=None, help="Scheduled pipelines: watched inboxes and recurring narration.")


@pipelines_app.command()
def check(path: Annotated[Path, typer.Argument(help="A pipelines file (YAML).", metavar="FILE")]) -> None:
    """Validate a pipelines file: each error names its line and says what to change."""
    try:
        found = read_pipelines(path)
    except BadInput as exc:
        fail(str(exc))
    for pipeline in found.pipelines:
        watched = pipeline.inbox if pipeline.kind == "inbox" else pipeline.recurring
        when = f"every {pipeline.every}" if pipeline.every else f"cron {pipeline.cron} ({pipeline.timezone})"
        console.print(f"{pipeline.name}: {pipeline.kind} {watched} -> {pipeline.out}, {when}", markup=False, soft_wrap=True)
    console.print(f"{path}: {len(found.pipelines)} pipeline(s), valid", markup=False, soft_wrap=True)
