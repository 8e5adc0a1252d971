"""The check that the suite leaves the checkout clean can fail."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytest_plugins = ["pytester"]


def git_checkout(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the inner run imports the plugin from this checkout
    subprocess.run(["git", "init", "-q", str(pytester.path)], check=True)
    pytester.makefile(".gitignore", "out/\n")
    pytester.makeconftest("from tests.support.tidy import pytest_sessionfinish, pytest_sessionstart  # noqa: F401\n")


def test_a_file_left_in_the_checkout_fails_the_run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path_factory
) -> None:
    git_checkout(pytester, monkeypatch)
    pytester.makepyfile(
        test_writes="""
        from pathlib import Path
        def test_writes_a_cover():
            Path("<none>").write_bytes(b"jpeg")
            Path("out").mkdir(); Path("out/x.mp3").write_bytes(b"ignored, but still left behind")
    """
    )
    result = pytester.runpytest_subprocess("--basetemp", str(tmp_path_factory.mktemp("inner")))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*the test suite left files in the checkout: <none>, out/*"])


def test_a_clean_run_passes(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, tmp_path_factory) -> None:
    git_checkout(pytester, monkeypatch)
    pytester.makepyfile(test_clean="def test_uses_tmp_path(tmp_path):\n    (tmp_path / 'x').write_text('fine')\n")
    assert pytester.runpytest_subprocess("--basetemp", str(tmp_path_factory.mktemp("inner"))).ret == pytest.ExitCode.OK
