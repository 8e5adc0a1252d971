"""A pytest plugin: this checkout's bytecode, compiled once, where PYTHONDONTWRITEBYTECODE keeps Python from writing it.

A run starts well over a hundred Python processes that import this checkout (workers, `narrate` commands, the
emulator). Without bytecode on disk each one compiles it from source again, about half a second of CPU apiece,
on a machine the fault tests need to themselves. The run's own process writes the bytecode it makes, too: pytest
rewrites every test module's asserts at import and keeps the result only where bytecode may be written (about
4 s of every collection otherwise). The caches go where Python puts them (`__pycache__`, ignored by git and by
the check that the run leaves the checkout clean); where Python writes them itself, this does nothing.
"""

from __future__ import annotations

import compileall
import sys

import pytest

PACKAGES = ("worker", "producer", "tests")


def pytest_configure(config: pytest.Config) -> None:
    if sys.dont_write_bytecode:
        for package in PACKAGES:
            compileall.compile_dir(config.rootpath / package, quiet=2)  # only what changed since the last run
        sys.dont_write_bytecode = False  # this process only: the processes it starts still read the environment
