"""`narrate` run in the test process, and typer's CliRunner made cheap enough to run it that way often.

`CliRunner.invoke(app, ...)` turns the typer app into a click command first, reading every command's signature and
type hints again: about a tenth of a second per call, most of what an in-process `narrate` call costs, and the
suite invokes `narrate` in-process well over a hundred times. A click command is built to be run many times; one
built per app object (a fixture for the whole run) serves every invoke of that app.
"""

from __future__ import annotations

import subprocess
import traceback
from collections.abc import Iterator
from functools import cache

import pytest
import typer.main
import typer.testing


@pytest.fixture(scope="session", autouse=True)
def _cli_commands_built_once() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(typer.testing, "_get_command", cache(typer.main.get_command))
        yield


def narrate_here(args: list[str], env: dict[str, str], *, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`narrate ARGS` run in this process with `env` set and the settings read afresh, answered as a `narrate`
    process would be: its exit code, its stdout, and its stderr with any traceback it raised."""
    from producer.cli.main import app
    from worker.settings import get_settings

    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        try:
            result = typer.testing.CliRunner().invoke(app, args, input=stdin)
        finally:
            get_settings.cache_clear()
    stderr = result.stderr
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
    return subprocess.CompletedProcess(["narrate", *args], result.exit_code, result.stdout, stderr)
