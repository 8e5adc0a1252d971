"""Every command answers --help in an 80-column terminal: the tree is walked, not listed by hand."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from producer.cli.main import app

WIDTH = 80


def command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [path]
    # typer carries its own copy of click: a group is whatever has subcommands
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        paths.extend(command_paths(sub, (*path, name)))
    return paths


TREE = command_paths(typer.main.get_command(app))


def test_the_tree_is_walked() -> None:
    # The walk must reach nested groups, or the test below would check too little.
    assert {("submit",), ("book",), ("dev",), ("voices",), ("voices", "add"), ("voices", "gc")} <= set(TREE)


@pytest.mark.parametrize("path", TREE, ids=lambda p: " ".join(p) or "narrate")
def test_help_exits_zero_at_80_columns(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH)})
    assert result.exception is None, f"narrate {' '.join(path)} --help raised {result.exception!r}\n{result.output}"
    assert result.exit_code == 0, result.output
    assert "usage:" in result.output.lower()
    too_wide = [line for line in result.output.splitlines() if len(line) > WIDTH]
    assert not too_wide, f"lines wider than {WIDTH} columns: {too_wide}"


BRACKETED = ["submit", "book"]


@pytest.fixture(scope="module")
def helps() -> dict[str, subprocess.CompletedProcess[str]]:
    """The real console script, as a user runs it, once per command and side by side: each run is mostly the
    process starting up, and those overlap."""
    narrate = Path(sys.executable).with_name("narrate")

    def run(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(narrate), command, "--help"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "COLUMNS": str(WIDTH)},
        )

    with ThreadPoolExecutor(max_workers=len(BRACKETED)) as side_by_side:
        return dict(zip(BRACKETED, side_by_side.map(run, BRACKETED)))


@pytest.mark.parametrize("command", BRACKETED)
def test_brackets_in_help_print_as_brackets(command: str, helps: dict[str, subprocess.CompletedProcess[str]]) -> None:
    """`s3://bucket[/prefix]` is text, not Rich markup."""
    result = helps[command]
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "s3://bucket[/prefix]" in result.stdout


SHARED = {"--out", "--format", "--voice-id", "--json", "--transcript-file"}


def test_shared_options_mean_the_same_everywhere() -> None:
    """One spelling, one meaning: every command's --out, --format, --voice-id, --json says the same thing."""
    seen: dict[str, set[str]] = {}

    def walk(command: Any) -> None:
        for param in getattr(command, "params", []):
            for name in set(getattr(param, "opts", [])) & SHARED:
                seen.setdefault(name, set()).add(param.help)
        for sub in getattr(command, "commands", {}).values():
            walk(sub)

    walk(typer.main.get_command(app))
    assert set(seen) == SHARED
    assert {name: helps for name, helps in seen.items() if len(helps) > 1} == {}
