"""What every `narrate` command shares: the consoles, exit codes and failing cleanly."""

from __future__ import annotations

from typing import NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.text import Text

from worker.settings import Settings, get_settings

EXIT_JOB_FAILED = 1
EXIT_BAD_INPUT = 2

# Everything printed is data (titles, paths, errors, URLs): never read as Rich markup, so brackets stay brackets.
console = Console(markup=False)
errors = Console(stderr=True, soft_wrap=True, markup=False)  # an error message stays one greppable line


def say_error(message: str, *, to: Console = errors) -> None:
    to.print(Text.assemble(("error:", "red"), " ", message), highlight=False)


def say_warning(message: str, *, to: Console = errors) -> None:
    to.print(Text.assemble(("warning:", "yellow"), " ", message), highlight=False)


def fail(message: str, *, code: int = EXIT_BAD_INPUT) -> NoReturn:
    say_error(message)
    raise typer.Exit(code)


def warn(message: str) -> None:
    say_warning(message)


def settings_or_exit() -> Settings:
    try:
        return get_settings()
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in exc.errors())
        fail(f"invalid configuration: {problems}")
