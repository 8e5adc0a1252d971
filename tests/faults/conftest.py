"""The fault suite's shared parts: workers per scenario, batches of jobs, and the results table."""

from __future__ import annotations

import io
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest
import redis
from rich.console import Console

from producer.cli import progress
from producer.dev.services import Service, stop_all
from producer.dev.stack import LocalStack
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, PreparedVoice, prepare_clip_voice
from producer.submit.jobs import Submitter
from tests.conftest import EmulatorControl
from worker import keys
from worker.jobs.records import JobStore
from worker.settings import Settings
from worker.storage import Storage

REPORT = Path(__file__).resolve().parents[2] / "fault-report.json"
FAST = {
    "NARRATE_PROMOTE_AFTER": "off",
    "NARRATE_RETRY_BASE_SECONDS": "0.2",
    "NARRATE_RETRY_MAX_SECONDS": "2",
    "NARRATE_PROMOTE_POLL_SECONDS": "1",
    "NARRATE_MAX_ATTEMPTS": "12",
    "NARRATE_VISIBILITY_TIMEOUT": "10",
    "NARRATE_TASK_SOFT_TIME_LIMIT": "5",
    "NARRATE_TASK_TIME_LIMIT": "7",
}


@dataclass
class Row:
    scenario: str
    jobs: int
    succeeded: int
    failed: int
    duplicates: int  # jobs with more than one output object or manifest
    lost: int  # jobs not finished, or "succeeded" without their output
    retries: int  # attempts beyond the first, from the manifests
    extra_fish_calls: int  # Fish renders beyond one per job (requests in flight when something died)


_rows: list[Row] = []


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _rows:
        REPORT.write_text(json.dumps([asdict(r) for r in _rows], indent=2))


def pytest_terminal_summary(terminalreporter) -> None:  # noqa: ANN001
    if _rows:
        from tests.faults.report import render

        terminalreporter.write_line("")
        for line in render([asdict(r) for r in _rows]).splitlines():
            terminalreporter.write_line(line)


@pytest.fixture
def fault_workers(stack: LocalStack, emulator: EmulatorControl) -> Iterator[Callable[..., list[Service]]]:
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]
    started: list[Service] = []

    def start(
        *, count: int = 1, concurrency: int = 2, extra_args: list[str] | None = None, **extra: str
    ) -> list[Service]:
        """`count` workers alike, started side by side; all are ready when this returns."""
        services = stack.add_workers(count, concurrency=concurrency, extra_env={**FAST, **extra}, extra_args=extra_args)
        started.extend(services)
        return services

    yield start
    stop_all(started, kill=True)  # the test is over: nothing to finish
    for service in started:
        if service in stack.services:
            stack.services.remove(service)


@pytest.fixture
def voice(reference_clip) -> PreparedVoice:
    return prepare_clip_voice([ClipInput(*reference_clip)])


class Batch:
    """Jobs with unique texts, so the emulator's log tells how often each was rendered."""

    def __init__(
        self, *, scenario: str, count: int = 0, bucket: str, voice: PreparedVoice, texts: list[str] | None = None
    ) -> None:
        self.scenario = scenario
        self.bucket = bucket
        self.prefix = scenario
        self.texts = texts or [f"Scenario {scenario}, job number {n}." for n in range(count)]
        jobs = Submitter.from_settings(Settings()).submit(
            sources=[TextSource(f"{n}.txt", t) for n, t in enumerate(self.texts)],
            voice=voice,
            out=f"s3://{bucket}/{scenario}",
        )
        self.ids = [job.job_id for job in jobs]

    def store(self) -> JobStore:
        return JobStore.from_url(Settings().broker_url)

    def count(self, state: str) -> int:
        return sum(1 for r in self.store().get_many(self.ids) if r is not None and r.state == state)

    def wait_for(self, predicate: Callable[[], bool], *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "timed out waiting"
            time.sleep(0.1)

    def finish(self, *, timeout: float) -> None:
        records = progress.wait_for(
            self.store(), self.ids, console=Console(file=io.StringIO()), timeout=timeout, poll_seconds=0.2
        )
        stuck = [(r.job_id, r.state, r.attempts, r.error) for r in records if not r.finished]
        assert not stuck, f"jobs did not finish in {timeout:.0f}s: {stuck}"

    def settle(self, emulator: EmulatorControl, *, timeout: float = 30) -> None:
        """Wait until no copy of any job is still queued, held by a worker or talking to Fish: only then is the count
        final."""
        client = redis.Redis.from_url(Settings().broker_url)
        busy = lambda: client.llen("narrate") or client.hlen("unacked") or emulator.stats()["in_flight"]  # noqa: E731
        self.wait_for(lambda: not busy(), timeout=timeout)

    def row(self, emulator: EmulatorControl) -> Row:
        self.settle(emulator)
        records = self.store().get_many(self.ids)
        storage = Storage()  # one client for every read below: each new one costs more than a read
        objects = Counter(
            o["Key"].rsplit("/", 1)[-1].split(".")[0]
            for page in storage._client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}/"
            )
            for o in page.get("Contents", [])
        )
        retries = lost = 0
        for record in records:
            if record is None or record.state != "succeeded":
                lost += record is None or record.state not in ("failed",)
                continue
            manifest = storage.get(self.bucket, keys.output_manifest(self.prefix, record.job_id))
            if manifest is None or not storage.exists(
                self.bucket, keys.output_audio(self.prefix, record.job_id, "mp3")
            ):
                lost += 1
                continue
            retries += json.loads(manifest)["attempts"] - 1
        rendered = Counter(
            r["text"] for r in emulator.requests() if r["status"] == 200 and r["text"] in set(self.texts)
        )
        row = Row(
            scenario=self.scenario,
            jobs=len(self.ids),
            succeeded=self.count("succeeded"),
            failed=self.count("failed"),
            duplicates=sum(1 for job_id in self.ids if objects[job_id] > 2),
            lost=lost,
            retries=retries,
            extra_fish_calls=sum(n - 1 for n in rendered.values() if n > 1),
        )
        _rows.append(row)
        return row
