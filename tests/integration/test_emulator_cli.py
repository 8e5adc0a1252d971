"""`narrate emulator` runs the emulator as a command, with its options."""

import os
import signal
import subprocess
import sys

from producer.dev.services import free_port
from tests.support.http import http


def test_narrate_emulator_serves_the_fish_api_until_stopped() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producer.cli.main",
            "emulator",
            "--port",
            str(port),
            "--concurrency",
            "3",
            "--api-key",
            "k1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert "listening on" in process.stdout.readline()  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        assert http().get(f"{base}/_emulator/health").json() == {"ok": True}
        assert http().get(f"{base}/_emulator/control").json()["concurrency"] == 3
        assert http().get(f"{base}/model", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert http().get(f"{base}/model", headers={"Authorization": "Bearer k1"}).json()["total"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
