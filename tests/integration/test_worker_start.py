"""A worker started with a pool narrate cannot keep its guarantees in refuses to start, saying why."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

POOLS = ["threads", "solo"]


@pytest.fixture(scope="module")
def refusals(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """A worker started on each pool, side by side: each run is mostly Celery starting up, and those overlap."""
    env = {**os.environ, "NARRATE_BROKER_URL": "redis://127.0.0.1:9/0"}  # never reached: it stops before connecting

    def start(pool: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "celery", "-A", "worker", "worker", "-P", pool, "--loglevel", "WARNING"],
            cwd=tmp_path_factory.mktemp(pool),
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )

    with ThreadPoolExecutor(max_workers=len(POOLS)) as side_by_side:
        return dict(zip(POOLS, side_by_side.map(start, POOLS)))


@pytest.mark.parametrize("pool", POOLS)
def test_a_worker_on_another_pool_refuses_to_start(
    pool: str, refusals: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    done = refusals[pool]
    assert done.returncode != 0
    assert "narrate workers need the prefork pool" in done.stderr and "drop --pool/-P" in done.stderr
