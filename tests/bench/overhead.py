"""What narrate adds to each job: worker CPU per job, and end-to-end latency beyond L.

One worker (4 processes) on an idle stack; the emulator answers after L = 1.0 s
from a pre-encoded clip. Jobs use a reference clip that has already been
promoted, so each job takes the usual path: clip from the process cache, a use
counted in the registry, the trained voice's id sent, mp3 probed, audio and
manifest uploaded, the record updated.

- CPU: user + system time of the worker's whole process tree (the Celery main
  process and its pool) over a batch of jobs, divided by the jobs. It includes
  the client side of each Fish call (packing the request, reading the answer).
- Latency: one job at a time, from the submit call until its record reads
  succeeded, minus L.

    python -m tests.bench.overhead [RUNS]
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import psutil

from producer.dev.run import sample_reference_clip
from producer.dev.sample import reference_transcript
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, prepare_clip_voice
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
    wait_for_succeeded,
)
from worker import keys
from worker.settings import get_settings

LATENCY = 1.0
BATCH = 40  # jobs per CPU measurement
SINGLES = 10  # one-at-a-time jobs per latency measurement


def tree_cpu_seconds(pid: int) -> float:
    root = psutil.Process(pid)
    total = 0.0
    for process in [root, *root.children(recursive=True)]:
        times = process.cpu_times()
        total += times.user + times.system
    return total


def main() -> list[Figure]:
    runs = runs_from_argv()
    with stack("overhead", emulator={"latency": str(LATENCY), "canned_audio": True}) as local:
        point_process_at(local, NARRATE_PROMOTE_AFTER="1")
        bucket = make_bucket("bench-overhead")
        worker = local.add_worker(concurrency=4, extra_env={"NARRATE_PROMOTE_AFTER": "1"})
        settings = get_settings()
        submitter = Submitter.from_settings(settings)
        voice = prepare_clip_voice([ClipInput(path=sample_reference_clip(), transcript=reference_transcript())])
        broker = submitter._store._redis  # noqa: SLF001 - the benchmark counts states directly
        done = 0

        def render(texts: list[str]) -> float:
            """Submit `texts` as jobs; return the seconds until the last succeeded."""
            nonlocal done
            started = time.monotonic()
            sources = [TextSource(name=f"job-{n}", text=t) for n, t in enumerate(texts)]
            submitter.submit(sources=sources, voice=voice, out=f"s3://{bucket}/{uuid.uuid4().hex[:6]}", fmt="mp3")
            done += len(texts)
            return wait_for_succeeded(settings.broker_url, done, timeout=300, poll=0.002) - started

        # Warm up: promote the clip (uses counted, voice trained) and fill every process's caches.
        deadline = time.monotonic() + 60
        while broker.hget(keys.reference_entry(voice.reference_hash), "state") != b"trained":
            if time.monotonic() > deadline:
                raise RuntimeError("the benchmark voice was not promoted within 60 s")
            render(sentences(4))
        render(sentences(10))

        cpu_ms, latency_ms = [], []
        for run in range(1, runs + 1):
            before = tree_cpu_seconds(worker.process.pid)
            render(sentences(BATCH))
            cpu_ms.append((tree_cpu_seconds(worker.process.pid) - before) / BATCH * 1000)
            singles = sorted(render(sentences(1)) for _ in range(SINGLES))
            latency_ms.append((singles[len(singles) // 2] - LATENCY) * 1000)
            log(f"overhead run {run}/{runs}: {cpu_ms[-1]:.1f} ms CPU per job, {latency_ms[-1]:.0f} ms latency beyond L")
    scenario = "5 overhead per job"
    return [
        Figure(
            scenario,
            "worker CPU per job",
            "ms",
            cpu_ms,
            target="< 50",
            note=f"{BATCH}-job batches; promoted clip voice, mp3",
        ),
        Figure(
            scenario,
            "end-to-end latency - L",
            "ms",
            latency_ms,
            target="< 150",
            note=f"median of {SINGLES} single jobs per run, idle stack",
        ),
    ]


if __name__ == "__main__":
    started = time.monotonic()
    report(main(), path=Path("bench-results-overhead.json"), started=started)
