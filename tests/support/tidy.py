"""A pytest plugin: a run that leaves new files in the checkout fails.

Tests write into temporary folders only. Anything new that `git status` shows
after the run (untracked or ignored, Python's caches aside) was written where a
user's files live, like a cover once saved as "<none>" in the working directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

_TREE = pytest.StashKey["set[str] | None"]()
_BUILD_LEFTOVERS = ("__pycache__", ".pytest_cache")  # Python's own caches
_REPORTS = {"fault-report.json"}  # the fault suite's table, which `make faults` prints; anything else is a defect


def _tree_state(root: Path) -> set[str] | None:
    """Untracked and ignored paths of the checkout (`git status`), or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain", "--ignored", "--untracked-files=normal"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    paths = {line[3:] for line in out.splitlines()}
    return {p for p in paths - _REPORTS if not any(part in p for part in _BUILD_LEFTOVERS)}


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_TREE] = _tree_state(session.config.rootpath)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before, after = session.config.stash.get(_TREE, None), _tree_state(session.config.rootpath)
    if before is None or after is None:
        return
    new = sorted(after - before)
    if new:
        # Files written outside a temporary folder (like a cover named "<none>") fail the run.
        session.config.get_terminal_writer().line(
            f"the test suite left files in the checkout: {', '.join(new)}", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
