"""Metrics listen on loopback unless NARRATE_METRICS_HOST names an address: a worker's and `narrate metrics serve`'s.

127.0.0.2 (loopback too, on Linux) stands in for another address of the machine: what listens on 127.0.0.1 only
refuses it, and what is told to listen there answers on it alone.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from producer.dev.services import free_port
from worker.observability import metrics, probe
from worker.settings import Settings, get_settings

OTHER = "127.0.0.2"
Start = Callable[..., tuple[subprocess.Popen[bytes], int]]  # starts `narrate metrics serve` with extra variables


def answers(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(2)
        return sock.connect_ex((host, port)) == 0


def wait_listening(host: str, port: int, *, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while not answers(host, port):
        assert process.poll() is None, process.stdout.read().decode() if process.stdout else "exited"
        assert time.monotonic() < deadline, f"nothing listens on {host}:{port}"
        time.sleep(0.1)


@pytest.fixture
def multiproc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    return tmp_path


def test_the_default_is_loopback() -> None:
    assert Settings.model_fields["metrics_host"].default == "127.0.0.1"


def test_a_workers_metrics_listen_on_loopback_by_default(multiproc_dir: Path) -> None:
    port = free_port()
    server = metrics.serve(port)
    try:
        assert httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
        assert not answers(OTHER, port), "reachable from another address"
    finally:
        server.shutdown()
        server.server_close()


def test_a_worker_listens_where_its_settings_say(multiproc_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from worker.app import _serve_metrics

    port = free_port()
    monkeypatch.setenv("NARRATE_METRICS_PORT", str(port))
    monkeypatch.setenv("NARRATE_METRICS_HOST", OTHER)
    monkeypatch.delenv("NARRATE_HEARTBEAT_FILE", raising=False)
    get_settings.cache_clear()
    try:
        _serve_metrics()  # what the worker_ready signal runs
        assert httpx.get(f"http://{OTHER}:{port}/healthz", timeout=5).status_code in (200, 503)
        assert not answers("127.0.0.1", port)
        metrics.HEALTH.beat()
        assert probe.main(["live"]) == 0, "the liveness probe asks where the worker listens"
    finally:
        get_settings.cache_clear()
        for thread in threading.enumerate():  # the server runs in a daemon thread of its own: stop it
            if thread.name == "narrate-metrics":
                server = thread._target.__self__  # type: ignore[attr-defined]
                if server.server_address[1] == port:
                    server.shutdown()
                    server.server_close()


@pytest.fixture
def cluster_metrics(stack_env: dict[str, str]) -> Iterator[Start]:
    started: list[subprocess.Popen[bytes]] = []

    def start(**env: str) -> tuple[subprocess.Popen[bytes], int]:
        port = free_port()
        environment = {k: v for k, v in os.environ.items() if k != "NARRATE_METRICS_HOST"} | env
        process = subprocess.Popen(
            [sys.executable, "-m", "producer.cli.main", "metrics", "serve", "--port", str(port)],
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process, port

    yield start
    for process in started:
        process.kill()
        process.wait(10)


def test_narrate_metrics_serve_listens_on_loopback_unless_told(cluster_metrics: Start) -> None:
    # Both started before either is waited for: their start-ups overlap instead of adding up.
    process, port = cluster_metrics()
    told, told_port = cluster_metrics(NARRATE_METRICS_HOST=OTHER)
    wait_listening("127.0.0.1", port, process=process)
    assert not answers(OTHER, port), "reachable from another address"

    wait_listening(OTHER, told_port, process=told)
    assert not answers("127.0.0.1", told_port)
