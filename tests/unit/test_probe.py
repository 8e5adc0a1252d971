"""Liveness reads the heartbeat's age: fresh passes, a minute without one fails, nothing configured says so."""

from __future__ import annotations

import os
import time

from worker.observability import probe
from worker.settings import get_settings


def run(monkeypatch, capsys, **env: str) -> tuple[int, str]:  # noqa: ANN001
    for name in ("NARRATE_HEARTBEAT_FILE", "NARRATE_METRICS_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    try:
        code = probe.main(["live"])
    finally:
        get_settings.cache_clear()
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_fresh_heartbeat_is_alive_and_a_stale_one_is_not(tmp_path, monkeypatch, capsys) -> None:
    beat = tmp_path / "heartbeat"
    beat.touch()
    assert run(monkeypatch, capsys, NARRATE_HEARTBEAT_FILE=str(beat))[0] == 0
    stale = time.time() - 2 * probe.HEARTBEAT_STALE_SECONDS
    os.utime(beat, (stale, stale))
    code, said = run(monkeypatch, capsys, NARRATE_HEARTBEAT_FILE=str(beat))
    assert code == 1 and "no heartbeat for 120 s" in said


def test_nothing_to_check_is_an_answer_too(monkeypatch, capsys) -> None:
    code, said = run(monkeypatch, capsys)
    assert code == 1 and "set NARRATE_HEARTBEAT_FILE or NARRATE_METRICS_PORT" in said
    assert probe.main(["sideways"]) == 2
