"""The committed locks: every install (make, the image) takes exact, hashed versions that pyproject.toml allows."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def pins(lock: str) -> dict[str, tuple[Version, int]]:
    """name -> (version, number of hashes)."""
    entries = re.split(r"\n(?=\S)", (ROOT / lock).read_text())
    found = {}
    for entry in entries:
        match = re.match(r"([A-Za-z0-9_.\-]+)==([^\s;\\]+)", entry)
        if match:
            found[canonicalize_name(match[1])] = (Version(match[2]), entry.count("--hash=sha256:"))
    return found


def requirements(*, test: bool) -> list[Requirement]:
    listed = PYPROJECT["project"]["dependencies"] + (
        PYPROJECT["project"]["optional-dependencies"]["test"] if test else []
    )
    return [Requirement(r) for r in listed + PYPROJECT["build-system"]["requires"]]


@pytest.mark.parametrize(("lock", "test"), [("requirements.lock", False), ("requirements-test.lock", True)])
def test_lock_pins_every_dependency_within_its_range_with_hashes(lock: str, test: bool) -> None:
    locked = pins(lock)
    assert len(locked) > 50, "the lock must hold the whole tree, not only the direct dependencies"
    for requirement in requirements(test=test):
        name = canonicalize_name(requirement.name)
        assert name in locked, f"{requirement.name} is not in {lock}: run `make upgrade`"
        version, hashes = locked[name]
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock}: {name}=={version} is outside {requirement}"
        )
    assert all(hashes for _, hashes in locked.values()), "every pin carries its hashes (pip --require-hashes)"


def test_the_test_lock_agrees_with_the_runtime_lock() -> None:
    runtime, test = pins("requirements.lock"), pins("requirements-test.lock")
    assert {name: test[name][0] for name in runtime} == {name: v for name, (v, _) in runtime.items()}


def test_make_and_the_image_install_from_the_locks() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r $(LOCK)" in makefile and "LOCK   := requirements-test.lock" in makefile
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in dockerfile
    assert re.search(r"pip install [^\n]*--no-deps[^\n]* \.", dockerfile), "narrate itself adds nothing unpinned"
