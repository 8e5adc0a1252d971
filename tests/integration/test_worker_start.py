"""A worker started with a pool narrate cannot keep its guarantees in refuses to start, saying why."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


@pytest.mark.parametrize("pool", ["threads", "solo"])
def test_a_worker_on_another_pool_refuses_to_start(pool: str, tmp_path) -> None:
    env = {**os.environ, "NARRATE_BROKER_URL": "redis://127.0.0.1:9/0"}  # never reached: it stops before connecting
    done = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "worker", "worker", "-P", pool, "--loglevel", "WARNING"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "narrate workers need the prefork pool" in done.stderr and "drop --pool/-P" in done.stderr
