"""What an operator watches, against a real worker: /metrics equal to the emulator's log, JSON logs, probes, cluster
gauges."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from producer.cli.main import app
from producer.dev.services import Service, stop_all
from producer.dev.stack import LocalStack
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.jobs import Submitter
from tests.support.http import http
from worker.settings import Settings

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = http().get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: dict, name: str, **labels: str) -> float:
    return sum(v for (n, found), v in samples.items() if n == name and set(labels.items()) <= set(found))


def wait_until(condition, *, timeout: float = 60, what: str = "") -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass(frozen=True)
class Observed:
    worker: Service
    port: int  # the worker's /metrics
    cluster_port: int  # narrate metrics serve
    heartbeat: Path


@pytest.fixture(scope="class")
def observed_worker(stack: LocalStack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Observed]:
    """A worker with metrics, JSON logs and a heartbeat, and `narrate metrics serve`, started side by side once for
    the class: its counters add up over the class's tests, which run in order (the first sees them from zero)."""
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]  # no jobs left by earlier tests
    heartbeat = tmp_path_factory.mktemp("observed") / "heartbeat"
    port = free_port()
    env = {
        "NARRATE_METRICS_PORT": str(port),
        "NARRATE_LOG_FORMAT": "json",
        "NARRATE_PROMOTE_AFTER": "2",
        "NARRATE_PROMOTE_POLL_SECONDS": "0.5",
        "NARRATE_HEARTBEAT_FILE": str(heartbeat),
        "NARRATE_RETRY_BASE_SECONDS": "0.2",
        "NARRATE_RETRY_MAX_SECONDS": "1",
        # countdowns are capped at visibility timeout - time limit: a job waiting for credit looks again within 3 s,
        # not 5-15 s
        "NARRATE_TASK_SOFT_TIME_LIMIT": "20",
        "NARRATE_TASK_TIME_LIMIT": "25",
        "NARRATE_VISIBILITY_TIMEOUT": "28",
    }
    worker = stack.add_worker(concurrency=2, extra_env=env, ready=False)
    cluster_port = free_port()
    cluster = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "producer.cli.main",
            "metrics",
            "serve",
            "--port",
            str(cluster_port),
            "--host",
            "127.0.0.1",
        ],
        env={**os.environ, **stack.env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker.wait_ready()  # the two start side by side
    wait_until(lambda: _up(cluster_port), what="narrate metrics serve")
    yield Observed(worker, port, cluster_port, heartbeat)
    cluster.terminate()
    cluster.wait(timeout=10)
    stop_all([worker], kill=True)
    stack.services.remove(worker)


@pytest.fixture
def observed(observed_worker: Observed, stack_env, redis_client, emulator) -> Observed:  # noqa: ANN001
    """The class's worker, for a test that finds Redis flushed and the emulator reset."""
    return observed_worker


def _up(port: int) -> bool:
    try:
        return http().get(f"http://127.0.0.1:{port}/metrics", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


class TestOneObservedWorker:
    """What an operator watches, on one worker for the class (its counters add up over the tests, in order)."""

    def test_metrics_match_the_emulators_log_and_logs_are_json(
        self, observed, bucket, emulator, reference_clip
    ) -> None:
        worker, port, cluster_port = observed.worker, observed.port, observed.cluster_port
        assert http().get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        voice = prepare_clip_voice([ClipInput(*reference_clip)])
        submitter = Submitter.from_settings(Settings())
        jobs = []
        for number in range(6):  # one at a time: two one-shot uses, then the trained voice's id
            [job] = submitter.submit(
                sources=[TextSource(f"part {number}", f"Part {number} of the story, told plainly.")],
                voice=voice,
                out=f"s3://{bucket}/observed",
            )
            jobs.append(job)
            store = submitter._store
            wait_until(
                lambda store=store, job=job: (r := store.get(job.job_id)) is not None and r.finished,
                what=f"job {number}",
            )
        logged = [r for r in emulator.requests() if r["status"] == 200 and r["kind"] == "tts"]
        samples = scrape(port)
        by_mode = {mode: [r for r in logged if r["mode"] == mode] for mode in ("one_shot", "reference_id")}
        assert by_mode["one_shot"] and by_mode["reference_id"], "the batch crossed the promotion"
        for mode, requests in by_mode.items():
            assert total(samples, "narrate_fish_requests_total", voice_mode=mode, outcome="ok") == len(requests)
            assert total(samples, "narrate_fish_text_bytes_total", voice_mode=mode) == sum(
                len(r["text"].encode()) for r in requests
            )
            assert total(samples, "narrate_fish_request_seconds_count", voice_mode=mode) == len(requests)
        assert total(samples, "narrate_reference_bytes_sent_total") == sum(r["reference_bytes"] for r in logged) > 0
        billed = sum(len(r["text"].encode()) for r in logged)
        assert total(samples, "narrate_fish_spend_usd_total") == pytest.approx(
            billed / 1e6 * Settings().price_per_million_bytes
        )
        assert total(samples, "narrate_jobs_total", state="succeeded") == 6
        assert total(samples, "narrate_promotions_total", outcome="trained") == 1
        cluster = scrape(cluster_port)
        assert (
            total(cluster, "narrate_fish_slots_in_use") == 0
            and total(cluster, "narrate_fish_slots_cap") == Settings().fish_concurrency
        )
        assert (
            total(cluster, "narrate_queue_depth", queue="narrate") == 0 and total(cluster, "narrate_breaker_open") == 0
        )

        # JSON logs: every line parses, each job's outcome names it, Celery's own lines come out the same way, no key.
        lines = [json.loads(line) for line in worker.log_path.read_text().splitlines() if line.strip()]
        succeeded = {
            line["job_id"]: line
            for line in lines
            if line.get("message", "").startswith("job ") and "succeeded" in line["message"]
        }
        assert set(succeeded) == {job.job_id for job in jobs}
        assert {line["voice_mode"] for line in succeeded.values()} == {"one_shot", "reference_id"}
        assert all(
            len(line["reference_hash"]) == 12 and line["task_id"] == line["job_id"] for line in succeeded.values()
        )
        assert any(line["logger"].startswith("celery") and "ready." in line["message"] for line in lines)
        assert Settings().fish_key() not in worker.log_path.read_text()
        assert observed.heartbeat.exists()

    def test_the_breaker_gauge_follows_a_402(self, observed, bucket, emulator, reference_clip) -> None:
        port, cluster_port = observed.port, observed.cluster_port
        succeeded = total(scrape(port), "narrate_jobs_total", state="succeeded")  # by the class's earlier tests
        emulator.control(credit="0")
        voice = prepare_clip_voice([ClipInput(*reference_clip)])
        [job] = Submitter.from_settings(Settings()).submit(
            sources=[TextSource("paid", "Words nobody has paid for yet.")], voice=voice, out=f"s3://{bucket}/observed"
        )
        wait_until(lambda: total(scrape(cluster_port), "narrate_breaker_open") == 1, what="the breaker to open")
        wait_until(lambda: total(scrape(port), "narrate_retries_total", cause="credit_wait") >= 1, what="a credit wait")
        assert total(scrape(port), "narrate_fish_requests_total", outcome="no_credit") >= 1
        emulator.control(credit="100")
        assert "resumed" in CliRunner().invoke(app, ["resume"]).output
        assert total(scrape(cluster_port), "narrate_breaker_open") == 0
        wait_until(
            lambda: total(scrape(port), "narrate_jobs_total", state="succeeded") == succeeded + 1,
            what="the job after resume",
        )

    def test_the_probes_answer_from_the_heartbeat_and_the_broker(self, observed, stack_env, tmp_path) -> None:
        env = {**os.environ, **stack_env, "NARRATE_HEARTBEAT_FILE": str(observed.heartbeat)}
        probe = [sys.executable, "-m", "worker.observability.probe"]
        wait_until(lambda: observed.heartbeat.exists(), what="the first heartbeat")
        # The four probes run side by side: each is a Python process starting up, and those overlap.
        runs = {
            "live": ("live", env),
            "ready": ("ready", env),
            "live, no heartbeat": ("live", {**env, "NARRATE_HEARTBEAT_FILE": str(tmp_path / "gone")}),
            "ready, no broker": ("ready", {**env, "NARRATE_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}),
        }
        started = {
            name: subprocess.Popen(
                [*probe, what], env=run_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for name, (what, run_env) in runs.items()
        }
        done = {name: (process.communicate(timeout=60), process.returncode) for name, process in started.items()}
        assert done["live"][1] == 0 and done["ready"][1] == 0
        assert done["live, no heartbeat"][1] == 1
        (_, down_stderr), down_code = done["ready, no broker"]
        assert down_code == 1 and "ConnectionError" in down_stderr
