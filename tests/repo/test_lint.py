"""`make lint` is ruff as pyproject.toml configures it; CI runs it before the tests, and so does this suite."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=ROOT, capture_output=True, text=True)


def test_the_code_passes_the_linter() -> None:
    found = ruff("check", "--output-format", "concise", ".")
    assert found.returncode == 0, found.stdout[-4000:]


def test_the_code_is_in_the_format() -> None:
    found = ruff("format", "--check", ".")
    assert found.returncode == 0, found.stdout[-4000:]


def test_ci_lints_before_it_tests() -> None:
    steps = [line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("make ")]
    assert steps == ["make lint", "make test"]
    lint = re.search(r"^lint:.*\n((?:\t.*\n)+)", (ROOT / "Makefile").read_text(), re.M)
    assert lint and "ruff check" in lint.group(1) and "ruff format --check" in lint.group(1)
