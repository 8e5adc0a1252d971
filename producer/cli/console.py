"""What every `narrate` command shares: the consoles, exit codes and failing cleanly."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from worker.settings import Settings, get_settings

EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2

console = Console()
errors = Console(stderr=True, soft_wrap=True)  # an error message stays one greppable line


def fail(message: str, *, code: int = EXIT_BAD_INPUT) -> NoReturn:
    errors.print(f"[red]error:[/] {escape(message)}", highlight=False)
    raise typer.Exit(code)


def warn(message: str) -> None:
    errors.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        fail(f"invalid configuration: {problems}")
