"""Throughput against the Fish limit C/L: narrate vs a sequential script vs a thread pool.

The emulator answers every request after L = 1.0 s and refuses more than C = 15
in flight, so no client can exceed C/L = 15 jobs/s. One persistent Fish voice;
single-chunk jobs of one or two sentences, mp3 to S3. The three clients run
side by side in each run, so their ratios share the machine's state.

    python -m tests.bench.throughput [RUNS]
"""

from __future__ import annotations

import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import redis
from fishaudio import FishAudio

from producer.submit.jobs import Submitter
from tests.bench.harness import (
    Figure,
    emulator_stats,
    log,
    make_bucket,
    point_process_at,
    report,
    runs_from_argv,
    sentences,
    stack,
    trained_voice,
    wait_for_succeeded,
)
from worker import keys
from worker.settings import get_settings

LATENCY, CONCURRENCY = 1.0, 15
JOBS, SEQUENTIAL_JOBS = 300, 15
# Worker processes per C: a few more processes than Fish slots, so that while some
# upload their audio, every slot is still busy (the cluster cap keeps Fish at C).
WORKER_PROCESSES = CONCURRENCY + 3


def plain_render(fish: FishAudio, s3: object, bucket: str, voice_id: str, text: str, n: int) -> None:
    """What a user would write without narrate: render, then upload."""
    audio = fish.tts.convert(text=text, reference_id=voice_id, format="mp3")
    s3.put_object(Bucket=bucket, Key=f"plain/{n}.mp3", Body=audio, ContentType="audio/mpeg")  # type: ignore[attr-defined]


def sequential(fish: FishAudio, s3: object, bucket: str, voice_id: str, texts: list[str]) -> float:
    started = time.monotonic()
    for n, text in enumerate(texts):
        plain_render(fish, s3, bucket, voice_id, text, n)
    return len(texts) / (time.monotonic() - started)


def thread_pool(fish: FishAudio, s3: object, bucket: str, voice_id: str, texts: list[str]) -> float:
    started = time.monotonic()
    with ThreadPoolExecutor(CONCURRENCY) as pool:
        for result in [pool.submit(plain_render, fish, s3, bucket, voice_id, t, n) for n, t in enumerate(texts)]:
            result.result()
    return len(texts) / (time.monotonic() - started)


def narrate(submitter: Submitter, broker: redis.Redis, voice_id: str, texts: list[str], bucket: str) -> float:
    from producer.readers.text import TextSource

    broker.delete(keys.jobs_in_state("succeeded"))
    sources = [TextSource(name=f"job-{n}", text=t) for n, t in enumerate(texts)]
    started = time.monotonic()
    submitter.submit(sources=sources, voice=voice_id, out=f"s3://{bucket}/narrate-{uuid.uuid4().hex[:6]}", fmt="mp3")
    finished = wait_for_succeeded(get_settings().broker_url, len(texts), timeout=300)
    return len(texts) / (finished - started)


def main() -> list[Figure]:
    runs = runs_from_argv(2)
    limit = CONCURRENCY / LATENCY
    emulator: dict[str, str | bool] = {"latency": str(LATENCY), "concurrency": str(CONCURRENCY), "canned_audio": True}
    with stack("throughput", emulator=emulator) as local:
        point_process_at(local)
        bucket = make_bucket("bench-throughput")
        voice_id = trained_voice(local)
        env = local.env()
        fish = FishAudio(api_key=env["FISH_API_KEY"], base_url=env["NARRATE_FISH_BASE_URL"], timeout=60)
        s3 = boto3.client("s3")
        local.add_worker(
            concurrency=WORKER_PROCESSES,
            extra_env={"NARRATE_FISH_CONCURRENCY": str(CONCURRENCY)},
            extra_args=["-Q", "narrate"],
        )
        submitter = Submitter.from_settings(get_settings())
        broker = redis.Redis.from_url(get_settings().broker_url)
        texts = sentences(JOBS)
        narrate(submitter, broker, voice_id, texts[:30], bucket)  # warm every worker process's clients
        rates: dict[str, list[float]] = {"narrate": [], "sequential": [], "pool": []}
        for run in range(1, runs + 1):
            rates["narrate"].append(narrate(submitter, broker, voice_id, texts, bucket))
            rates["sequential"].append(sequential(fish, s3, bucket, voice_id, texts[:SEQUENTIAL_JOBS]))
            rates["pool"].append(thread_pool(fish, s3, bucket, voice_id, texts))
            log(f"throughput run {run}/{runs}: " + ", ".join(f"{k} {v[-1]:.2f} jobs/s" for k, v in rates.items()))
        http_429 = emulator_stats(local)["errors_by_status"].get("429", 0)
    scenario = f"1 throughput (C={CONCURRENCY}, L={LATENCY:g}s)"
    return [
        Figure(
            scenario,
            "narrate",
            "jobs/s",
            rates["narrate"],
            note=f"{JOBS} jobs, {WORKER_PROCESSES} worker processes, {http_429} × 429 from Fish",
        ),
        Figure(scenario, "plain sequential", "jobs/s", rates["sequential"], note=f"{SEQUENTIAL_JOBS}-job sample"),
        Figure(scenario, f"plain ThreadPoolExecutor({CONCURRENCY})", "jobs/s", rates["pool"]),
        Figure(scenario, "narrate / C/L", "", [r / limit for r in rates["narrate"]], target=">= 0.90"),
        Figure(
            scenario,
            "narrate / thread pool",
            "",
            [a / b for a, b in zip(rates["narrate"], rates["pool"])],
            target=">= 0.95",
        ),
        Figure(scenario, "sequential / C/L", "", [r / limit for r in rates["sequential"]]),
    ]


if __name__ == "__main__":
    started = time.monotonic()
    report(main(), path=Path("bench-results-throughput.json"), started=started)
