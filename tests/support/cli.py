"""A pytest fixture for the whole run: typer's CliRunner builds each app's click command once, not at every invoke.

`CliRunner.invoke(app, ...)` turns the typer app into a click command first, reading every command's signature and
type hints again: about a tenth of a second per call, most of what an in-process `narrate` call costs, and the
suite invokes `narrate` in-process well over a hundred times. A click command is built to be run many times; one
built per app object serves every invoke of that app.
"""

from __future__ import annotations

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
