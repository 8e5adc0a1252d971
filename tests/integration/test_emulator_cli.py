"""`narrate emulator` runs the emulator as a command, with its options."""

import os
import signal
import subprocess
import sys

import httpx

from producer.dev.services import free_port


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
        assert httpx.get(f"{base}/_emulator/health").json() == {"ok": True}
        assert httpx.get(f"{base}/_emulator/control").json()["concurrency"] == 3
        assert httpx.get(f"{base}/model", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(f"{base}/model", headers={"Authorization": "Bearer k1"}).json()["total"] == 0
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
