"""Enqueue rate: jobs per second until every job is in the queue with its record.

No workers run, so nothing is consumed while counting. Two producers:

- `narrate submit jobs.jsonl`: a manifest of 10,000 `text:` entries sharing one
  Fish voice, timed from the command's start to its exit (Python start-up,
  reading and checking the manifest, records, messages);
- the Python API in a loop: `Submitter.batch()`, one `add()` per job, which
  records and sends 500 jobs at a time;
- for comparison, `Submitter.submit()` called once per job (two Redis round
  trips and one Celery message per call);
- the batch loop again while a monitor (as Flower or celery-exporter would)
  subscribes to Celery's events: every job's `task-sent` event is published,
  which nobody listening spares.

    python -m tests.bench.enqueue [RUNS]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from producer.readers.text import TextSource
from producer.submit.jobs import Submitter
from tests.bench.harness import (
    Figure,
    log,
    make_bucket,
    point_process_at,
    report,
    runs_from_argv,
    sentences,
    stack,
)
from worker import keys
from worker.app import QUEUE
from worker.settings import get_settings

MANIFEST_JOBS, SINGLE_JOBS = 10_000, 2_000
VOICE_ID = "7f92f8afb8ec43bf81429cc1c9199cb1"


def all_queued(client: redis.Redis, count: int) -> None:
    """Every job has its record and its message, or the figure would flatter us."""
    records, messages = client.zcard(keys.jobs_in_state("queued")), client.llen(QUEUE)
    if records != count or messages != count:
        raise RuntimeError(f"expected {count} records and messages, found {records} and {messages}")


def write_manifest(path: Path, bucket: str) -> None:
    lines = (
        json.dumps({"text": text, "voice_id": VOICE_ID, "out": f"s3://{bucket}/manifest"})
        for text in sentences(MANIFEST_JOBS)
    )
    path.write_text("\n".join(lines) + "\n")


def submit_manifest(path: Path, env: dict[str, str], client: redis.Redis) -> float:
    client.flushdb()
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "producer.cli.main", "submit", str(path), "--json"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        raise RuntimeError(f"narrate submit failed ({result.returncode}): {result.stderr[-2000:]}")
    all_queued(client, MANIFEST_JOBS)
    return MANIFEST_JOBS / elapsed


def rate(client: redis.Redis, count: int, enqueue: Callable[[list[str]], None]) -> float:
    """Jobs/s of `enqueue(texts)` for `count` fresh texts, once all are queued with their records."""
    client.flushdb()
    texts = sentences(count)
    started = time.monotonic()
    enqueue(texts)
    elapsed = time.monotonic() - started
    all_queued(client, count)
    return count / elapsed


def batch_in_a_loop(texts: list[str], bucket: str) -> None:
    with Submitter.from_settings(get_settings()).batch(voice=VOICE_ID, out=f"s3://{bucket}/batch") as batch:
        for n, text in enumerate(texts):
            batch.add(text, title=f"job-{n}")


def submit_per_job(texts: list[str], bucket: str) -> None:
    submitter = Submitter.from_settings(get_settings())
    for n, text in enumerate(texts):
        submitter.submit(sources=[TextSource(f"job-{n}", text)], voice=VOICE_ID, out=f"s3://{bucket}/loop")


# Subscribes as Celery's event receiver does (a pattern on the event exchange) and reads what arrives.
MONITOR = """
import sys, redis
pubsub = redis.Redis.from_url(sys.argv[1]).pubsub()
pubsub.psubscribe("/*.celeryev/*")
for _ in pubsub.listen():
    pass
"""


@contextmanager
def monitor(url: str, client: redis.Redis) -> Iterator[None]:
    """A process listening to Celery's events while the block runs: the producer's events then go out."""
    patterns = client.pubsub_numpat()
    listener = subprocess.Popen([sys.executable, "-c", MONITOR, url])
    try:
        while client.pubsub_numpat() <= patterns:
            if listener.poll() is not None:
                raise RuntimeError(f"the event monitor exited ({listener.returncode}) before subscribing")
            time.sleep(0.05)
        yield
    finally:
        listener.kill()
        listener.wait()


def main() -> list[Figure]:
    runs = runs_from_argv()
    with stack("enqueue") as local:
        env = point_process_at(local)
        bucket = make_bucket("bench-enqueue")
        manifest = Path(local.workdir) / "jobs.jsonl"
        write_manifest(manifest, bucket)
        client = redis.Redis.from_url(get_settings().broker_url)
        cli_rates, batch_rates, single_rates, watched_rates = [], [], [], []
        for run in range(1, runs + 1):
            cli_rates.append(submit_manifest(manifest, env, client))
            batch_rates.append(rate(client, MANIFEST_JOBS, lambda texts: batch_in_a_loop(texts, bucket)))
            single_rates.append(rate(client, SINGLE_JOBS, lambda texts: submit_per_job(texts, bucket)))
            with monitor(get_settings().broker_url, client):
                watched_rates.append(rate(client, MANIFEST_JOBS, lambda texts: batch_in_a_loop(texts, bucket)))
            log(
                f"enqueue run {run}/{runs}: narrate submit {cli_rates[-1]:,.0f}, batch loop {batch_rates[-1]:,.0f},"
                f" submit() per job {single_rates[-1]:,.0f}, batch loop with a monitor {watched_rates[-1]:,.0f} jobs/s"
            )
    scenario = "3 enqueue"
    return [
        Figure(
            scenario,
            f"narrate submit, {MANIFEST_JOBS:,}-job manifest",
            "jobs/s",
            cli_rates,
            target=">= 2000",
            note="whole command: Python start-up, manifest checked, records and messages written",
        ),
        Figure(scenario, f"Python API loop, batch.add() x {MANIFEST_JOBS:,}", "jobs/s", batch_rates, target=">= 3000"),
        Figure(
            scenario,
            f"Python API loop, submit() per job x {SINGLE_JOBS:,}",
            "jobs/s",
            single_rates,
            target=">= 700",
            note="each call: a record write and a message send, two Redis round trips",
        ),
        Figure(
            scenario,
            f"batch.add() x {MANIFEST_JOBS:,}, a monitor listening to events",
            "jobs/s",
            watched_rates,
            target=">= 2400",
            note="every job's task-sent event published too, as Flower or celery-exporter would hear them",
        ),
    ]


if __name__ == "__main__":
    started = time.monotonic()
    report(main(), path=Path("bench-results-enqueue.json"), started=started)
