"""Enqueue rates of several versions of the code, side by side: each version's own enqueue benchmark, interleaved.

A machine's speed drifts over minutes (other work, heat, noisy neighbours), so
versions measured an hour apart cannot be compared. Here every round runs one
pass of `tests.bench.enqueue` for each version in turn, each version checked
out in a git worktree of its own (`.` is the working tree as it is), with the
same Python; the table gives each version's median over the rounds.

    python -m tests.bench.enqueue_versions [--rounds N] REV [REV...]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from tests.bench.harness import log

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("narrate submit", "batch.add()", "submit() per job")  # the order every version's enqueue benchmark reports


def checkout(revision: str, folder: Path) -> Path:
    """The tree to run `revision` from: the working tree for `.`, else a detached worktree in `folder`."""
    if revision == ".":
        return ROOT
    tree = folder / revision.replace("/", "_")
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision], check=True, capture_output=True
    )
    return tree


def one_pass(tree: Path) -> list[float]:
    """One run of the tree's own enqueue benchmark: jobs/s of each of its figures."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(
        [sys.executable, "-m", "tests.bench.enqueue", "1"], cwd=tree, env=env, check=True, capture_output=True
    )
    figures = json.loads((tree / "bench-results-enqueue.json").read_text())["figures"]
    return [figure["median"] for figure in figures[: len(FIGURES)]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("revisions", nargs="+", help="git revisions to compare; `.` is the working tree")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="narrate-bench-versions-") as folder:
        trees = {revision: checkout(revision, Path(folder)) for revision in args.revisions}
        try:
            rates: dict[str, list[list[float]]] = {revision: [] for revision in trees}
            for round_ in range(1, args.rounds + 1):
                for revision, tree in trees.items():
                    rates[revision].append(one_pass(tree))
                    figures = ", ".join(f"{name} {rate:,.0f}" for name, rate in zip(FIGURES, rates[revision][-1]))
                    log(f"round {round_}/{args.rounds} {revision}: {figures}")
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    remove = ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)]
                    subprocess.run(remove, check=False, capture_output=True)
    table = Table(title=f"enqueue, jobs/s: median (min-max) of {args.rounds} interleaved rounds")
    table.add_column("version")
    for name in FIGURES:
        table.add_column(name, justify="right")
    for revision, runs in rates.items():
        columns = zip(*runs)
        table.add_row(revision, *(f"{statistics.median(c):,.0f} ({min(c):,.0f}-{max(c):,.0f})" for c in columns))
    Console(width=140).print(table)


if __name__ == "__main__":
    started = time.monotonic()
    main()
    log(f"done in {time.monotonic() - started:.0f} s")
