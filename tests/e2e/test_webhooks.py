"""Single jobs' webhooks with real processes: the CLI, a worker, and a loopback receiver admitted by
NARRATE_WEBHOOK_ALLOW."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import redis

from producer.dev.services import Service, stop_all
from producer.dev.stack import LocalStack
from tests.conftest import EmulatorControl
from tests.support.cli import narrate_here
from worker.webhooks.signing import verify

pytestmark = pytest.mark.e2e
SECRET = "e2e-hook-secret"
HOOK_ENV = {"NARRATE_PROMOTE_AFTER": "off", "NARRATE_WEBHOOK_SECRET": SECRET, "NARRATE_WEBHOOK_ALLOW": "127.0.0.1/32"}


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str], bytes]] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.path, dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture(scope="module")
def worker(stack: LocalStack) -> Iterator[Service]:
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]
    EmulatorControl(stack.emulator.url).reset()  # type: ignore[union-attr]  # no latency or faults left either
    service = stack.add_worker(concurrency=2, extra_env=HOOK_ENV)
    yield service
    stop_all([service], kill=True)
    stack.services.remove(service)


@pytest.fixture
def receiver() -> Iterator[int]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    # A short poll: shutdown() waits for the serving loop to look, up to one poll (0.5 s by default).
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server.server_port
    server.shutdown()
    server.server_close()


def narrate(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "producer.cli.main", *args],
        env={**os.environ, **env, **HOOK_ENV},
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_each_job_and_the_batch_are_notified_once_signed_and_status_shows_no_token(
    worker, stack_env, bucket, reference_clip, receiver: int, tmp_path
) -> None:
    clip, transcript = reference_clip
    files = []
    for name, text in (("one.txt", "The first short text."), ("two.txt", "The second short text.")):
        (tmp_path / name).write_text(text, encoding="utf-8")
        files.append(str(tmp_path / name))
    base = f"http://127.0.0.1:{receiver}"
    submitted = narrate(
        [
            "submit",
            *files,
            "--voice",
            str(clip),
            "--transcript",
            transcript,
            "--out",
            f"s3://{bucket}/hooks",
            "--notify",
            f"{base}/job?token=t0ken",
            "--notify-batch",
            f"{base}/batch",
            "--json",
        ],
        stack_env,
    )
    assert submitted.returncode == 0, submitted.stderr
    ids = [job["job_id"] for job in json.loads(submitted.stdout)["jobs"]]
    deadline = time.monotonic() + 90
    while len(Receiver.received) < 3 and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)  # nothing more may come: one notice per job, one for the batch
    notices = {json.loads(body)["event"]: [] for _, _, body in Receiver.received}
    for path, headers, body in Receiver.received:
        assert verify(body, headers["X-Narrate-Signature"], secret=SECRET)
        notices[json.loads(body)["event"]].append((path, json.loads(body)))
    assert sorted(n["job_id"] for _, n in notices["job.finished"]) == sorted(ids)
    assert all(
        path == "/job?token=t0ken" and n["state"] == "succeeded" and n["output_url"].endswith(".mp3")
        for path, n in notices["job.finished"]
    )
    [(path, batch)] = notices["batch.finished"]
    assert path == "/batch" and (batch["jobs"], batch["succeeded"], batch["failed"], batch["state"]) == (
        2,
        2,
        0,
        "succeeded",
    )

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = narrate_here(["status", *ids, "--json"], {**stack_env, **HOOK_ENV})  # polled: in-process
        if all(r["notify_status"] == "delivered" for r in json.loads(status.stdout)):
            break
        time.sleep(0.2)
    records = json.loads(status.stdout)
    assert [r["notify_status"] for r in records] == ["delivered", "delivered"]
    assert {r["notify_url"] for r in records} == {f"{base}/job"} and "t0ken" not in status.stdout
