"""Bytes sent to Fish: automatic promotion (N = 5) against always one-shot.

1,000 single-chunk jobs share one 20 s WAV reference clip. The emulator counts
every byte of every request body it receives, voice creation included. Three
modes, each on a fresh registry with its own worker:

- promotion: N = 5, the default reference encoding (FLAC, lossless);
- always one-shot: promotion off, FLAC;
- a one-shot sample with NARRATE_REFERENCE_ENCODING=original (the WAV as uploaded),
  to show what the FLAC wire form saves per request.

The emulator trains a voice in TRAIN_SECONDS, as Fish's fast mode does in
seconds; renders wait for it (NARRATE_PROMOTE_WAIT_SECONDS) instead of sending
the clip again. Requests already in flight when the promotion is claimed still
go one-shot. Every other setting is the default.

    python -m tests.bench.bytes_to_fish [RUNS]
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import httpx
import redis
from fishaudio import FishAudio

from producer.dev.emulator.speech import make_reference_clip
from producer.dev.stack import LocalStack
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, prepare_clip_voice
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
    wait_for_succeeded,
)
from worker.settings import get_settings

JOBS, ORIGINAL_SAMPLE = 1000, 100
TRAIN_SECONDS = 0.5
TRANSCRIPT = (
    "The lighthouse keeper climbed the narrow stairs every evening at dusk. He trimmed the wick, polished the great"
    " lens, and wrote the weather in a small leather book. Ships passed far out at sea, and none of them ever knew"
    " his name, yet every one of them was guided home by his patient, steady light. In winter the storms came"
    " early, and he kept the flame alive through the longest nights."
)


def delete_fish_voices(local: LocalStack) -> None:
    env = local.env()
    fish = FishAudio(api_key=env["FISH_API_KEY"], base_url=env["NARRATE_FISH_BASE_URL"])
    for voice in fish.voices.list(page_size=100, self_only=True).items:
        fish.voices.delete(voice.id)


def render_all(local: LocalStack, *, jobs: int, worker_env: dict[str, str], clip: Path, bucket: str) -> dict:
    """Render `jobs` jobs with a fresh registry and worker; return the emulator's counts for them."""
    redis.Redis.from_url(get_settings().broker_url).flushall()
    delete_fish_voices(local)  # else a later run re-links the first run's voice and uploads nothing
    httpx.post(f"{local.env()['NARRATE_FISH_BASE_URL']}/_emulator/reset", timeout=10)
    worker = local.add_worker(concurrency=4, extra_env=worker_env)
    try:
        voice = prepare_clip_voice([ClipInput(path=clip, transcript=TRANSCRIPT)])
        sources = [TextSource(name=f"job-{n}", text=t) for n, t in enumerate(sentences(jobs))]
        Submitter.from_settings(get_settings()).submit(
            sources=sources, voice=voice, out=f"s3://{bucket}/{uuid.uuid4().hex[:6]}"
        )
        wait_for_succeeded(get_settings().broker_url, jobs, timeout=600)
        return emulator_stats(local)
    finally:
        worker.stop()
        local.services.remove(worker)


def main() -> list[Figure]:
    runs = runs_from_argv(2)
    with stack("bytes", emulator={"canned_audio": True, "train_seconds": str(TRAIN_SECONDS)}) as local:
        point_process_at(local)
        bucket = make_bucket("bench-bytes")
        clip = Path(local.workdir) / "reference-20s.wav"
        clip.write_bytes(make_reference_clip(TRANSCRIPT))
        wav_bytes = clip.stat().st_size
        promoted, one_shot, original, per_request, one_shot_counts = [], [], [], [], []
        for run in range(1, runs + 1):
            with_promotion = render_all(
                local, jobs=JOBS, worker_env={"NARRATE_PROMOTE_AFTER": "5"}, clip=clip, bucket=bucket
            )
            always = render_all(local, jobs=JOBS, worker_env={"NARRATE_PROMOTE_AFTER": "off"}, clip=clip, bucket=bucket)
            as_uploaded = render_all(
                local,
                jobs=ORIGINAL_SAMPLE,
                clip=clip,
                bucket=bucket,
                worker_env={"NARRATE_PROMOTE_AFTER": "off", "NARRATE_REFERENCE_ENCODING": "original"},
            )
            promoted.append(with_promotion["request_bytes_received"])
            one_shot.append(always["request_bytes_received"])
            one_shot_counts.append(with_promotion["one_shot_requests"])
            per_request.append(always["reference_bytes_received"] / always["one_shot_requests"])
            original.append(as_uploaded["reference_bytes_received"] / as_uploaded["one_shot_requests"])
            log(
                f"bytes run {run}/{runs}: promotion {promoted[-1]:,} B ({one_shot_counts[-1]} one-shot requests),"
                f" always one-shot {one_shot[-1]:,} B"
            )
    scenario = f"2 bytes to Fish ({JOBS:,} requests, 20 s WAV)"
    return [
        Figure(
            scenario,
            "request bytes, promotion N=5",
            "MB",
            [b / 1e6 for b in promoted],
            note=f"one-shot requests before the voice was trained: {sorted(one_shot_counts)};"
            f" training takes {TRAIN_SECONDS:g} s here",
        ),
        Figure(scenario, "request bytes, always one-shot", "MB", [b / 1e6 for b in one_shot]),
        Figure(
            scenario,
            "fewer bytes with promotion",
            "%",
            [100 * (1 - p / o) for p, o in zip(promoted, one_shot)],
            target=">= 99",
        ),
        Figure(
            scenario,
            "one-shot reference bytes / WAV clip (FLAC)",
            "",
            [b / wav_bytes for b in per_request],
            note=f"WAV clip {wav_bytes:,} bytes; FLAC is lossless, checked sample for sample",
        ),
        Figure(
            scenario,
            "one-shot reference bytes / WAV clip (original)",
            "",
            [b / wav_bytes for b in original],
            note=f"{ORIGINAL_SAMPLE}-request sample, NARRATE_REFERENCE_ENCODING=original",
        ),
    ]


if __name__ == "__main__":
    started = time.monotonic()
    report(main(), path=Path("bench-results-bytes.json"), started=started)
