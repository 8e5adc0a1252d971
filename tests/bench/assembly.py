"""Assembly of a long audiobook from chunks already in storage: × real time and peak RSS.

A book of 10-minute chapters is planned as the producer plans one (the real
`plan_chapter`, content-addressed chunk keys) from a pool of paragraphs; each
distinct chunk is spoken once by espeak-ng, as the emulator speaks it, at the
emulator's rate (22.05 kHz mono WAV), and stored at its key. Paragraphs repeat
across the book, so storage holds a few minutes of audio, but every chunk of
every chapter is fetched and decoded as often as the real code reads it.
Fish itself answers 44.1 kHz when no rate is asked: `--rate 44100` measures
that, where both encoders take about twice as long.

Then a real worker (the machine's default number of processes, consuming the
assembly queue) is handed the chapter tasks, as the last chunk of each chapter
would hand them over: chapters are measured, normalized and encoded to mp3 side
by side, and the last one enqueues the book task, one more streaming pass into
`book.m4b` with sidecars and the manifest. "mp3" is the wall time from the
chapter tasks' enqueue until every chapter is done, against the chapters' audio;
"m4b" the book task's, against the book's. Peak RSS is the largest high-water
mark (VmHWM) of the worker's pool processes, read before the worker stops.

The encoders alone (libmp3lame and the native AAC encoder, with the writer's
bit rates and options) are timed on the same speech: the ceiling one process
can reach on this machine.

    python -m tests.bench.assembly [RUNS] [--hours 1 10] [--long-runs N] [--rate HZ]

By default the 1-hour book runs RUNS=2 times and the 10-hour book once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from datetime import datetime, timezone
from fractions import Fraction
from pathlib import Path

import av
import boto3
import numpy as np
import psutil

from producer.dev.stack import LocalStack
from tests.bench.harness import (
    Figure,
    log,
    make_bucket,
    point_process_at,
    report,
    stack,
)
from worker import keys
from worker.app import ASSEMBLY_QUEUE
from worker.audio import codec
from worker.books.plan import BookPlan, PlanChapter, plan_chapter
from worker.contract import BOOK_CHAPTER_TASK, ModelVoice, Output
from worker.settings import get_settings

SCENARIO = "4 assembly"
CHAPTER_SECONDS = 600.0
VOICE = ModelVoice(reference_id="benchvoice")
PARAGRAPHS = 14  # distinct paragraphs; chapters take them in rotation

_WORDS = ("river", "lantern", "harbour", "morning", "letter", "garden", "mountain", "window", "winter", "station",
          "captain", "meadow", "silver", "journey", "evening", "bridge", "village", "promise", "shadow", "orchard")  # fmt: skip


def paragraph(n: int) -> str:
    """A paragraph of 4 to 14 distinct sentences: one or two chunks, 6 to 60 seconds spoken (about 40 on average)."""
    sentences = []
    for s in range(4 + (n * 5) % 11):
        a, b, c = (_WORDS[(n * 7 + s * k) % len(_WORDS)] for k in (1, 3, 5))
        sentences.append(f"In part {n}, line {s}, the {a} by the {b} waited for the {c}, as it had every day before.")
    return " ".join(sentences)


def store_chunks(bucket: str, *, rate: int) -> dict[str, float]:
    """Speak every distinct chunk of the paragraph pool once and store it; returns each paragraph's seconds."""
    from worker.emulator import speech
    from worker.storage import Storage

    storage, settings = Storage.from_settings(get_settings()), get_settings()
    seconds: dict[str, float] = {}
    for n in range(PARAGRAPHS):
        text = paragraph(n)
        chapter = plan_chapter(index=0, title="", text=text, voice=VOICE, model=settings.fish_model, max_bytes=settings.chunk_bytes)
        total = 0.0
        for chunk in chapter.chunks:
            pcm, native = speech.synthesize(chunk.text)
            pcm = codec.resample_pcm16(pcm, from_rate=native, to_rate=rate)
            storage.put(bucket, chunk.key, codec.encode_pcm16(pcm, sample_rate=rate, fmt="wav"), content_type=codec.CONTENT_TYPES["wav"])
            total += len(pcm) / 2 / rate
        seconds[text] = total + (len(chapter.chunks) - 1) * 0.25  # sentence pauses inside the paragraph
    return seconds


def plan_book(bucket: str, *, hours: float, paragraphs: dict[str, float]) -> BookPlan:
    """Chapters of about ten minutes, each from the pool in its own rotation, as the producer would plan them."""
    settings = get_settings()
    texts = list(paragraphs)
    chapters: list[PlanChapter] = []
    for index in range(max(1, round(hours * 3600 / CHAPTER_SECONDS))):
        chosen, length, n = [], 0.0, index
        while length < CHAPTER_SECONDS:
            text = texts[n % len(texts)]
            chosen.append(text)
            length += paragraphs[text] + 0.7
            n += 1
        chapters.append(plan_chapter(index=index, title=f"Chapter {index + 1}", text="\n\n".join(chosen), voice=VOICE,
                                     model=settings.fish_model, max_bytes=settings.chunk_bytes))  # fmt: skip
    book_id = uuid.uuid4().hex
    return BookPlan(
        book_id=book_id, title=f"A {hours:g}-hour book", author="Bench Author", language="en", source="bench",
        voice=VOICE, output=Output(bucket=bucket, prefix=f"books-{book_id[:8]}", format="mp3"), fish_model=settings.fish_model,
        target_rms_db=settings.target_rms_db, submitted_at=datetime.now(timezone.utc), chapters=chapters,
    )  # fmt: skip


def assemble_with_worker(local: LocalStack, plan: BookPlan) -> dict[str, float]:
    """Store the plan and the book's state as a submission does, then let a real worker assemble it.

    A fresh worker per book (the machine's default number of processes, the assembly
    queue) runs the chapter tasks side by side, as in production, then the book task;
    its pool processes' peak RSS (VmHWM) is read before it stops.
    """
    from worker.app import make_app
    from worker.books.state import BookState
    from worker.storage import Storage

    bucket, prefix, book_id = plan.output.bucket, plan.output.prefix, plan.book_id
    storage, state = Storage.from_settings(get_settings()), BookState.from_url(get_settings().broker_url)
    storage.put(bucket, keys.book_plan(prefix, book_id), plan.model_dump_json().encode(), content_type="application/json")
    state.create(plan, cached=plan.chunk_count, estimated_cost_usd=0.0, notify_url=None)
    worker = local.add_worker(concurrency=os.cpu_count() or 2, extra_args=["-Q", ASSEMBLY_QUEUE])
    try:
        started = time.monotonic()
        app = make_app(get_settings())  # made now: the stack's broker, not the one at import time
        for chapter in plan.chapters:
            app.send_task(BOOK_CHAPTER_TASK, args=(book_id, bucket, prefix, chapter.index), queue=ASSEMBLY_QUEUE)
        chapters_done = 0.0
        while (book_state := state.state_of(book_id)) != "succeeded":
            if book_state == "failed":
                raise RuntimeError(f"the benchmark book failed: {(state.get(book_id) or {}).get('error')}")
            if not chapters_done and len(state.chapters_done(book_id)) == len(plan.chapters):
                chapters_done = time.monotonic()
            time.sleep(0.05)
        finished = time.monotonic()
        peak_mb = max(peak_rss_mb(child.pid) for child in psutil.Process(worker.process.pid).children())
    finally:
        worker.stop()
        local.services.remove(worker)
    manifest = json.loads(storage.get(bucket, keys.book_manifest(prefix, book_id)) or b"{}")
    book = state.get(book_id) or {}
    delete_outputs(bucket, prefix)  # the S3 server keeps objects in memory: drop each run's outputs
    return {
        "chapters_wall": chapters_done - started, "book_wall": finished - chapters_done,
        "chapters_audio": sum(float(c.get("duration_seconds", 0)) for c in book.get("chapters", [])),
        "book_audio": manifest["chapters"][-1]["end_seconds"], "peak_rss_mb": peak_mb,
    }  # fmt: skip


def peak_rss_mb(pid: int) -> float:
    """A process's own peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no VmHWM for process {pid}")


def delete_outputs(bucket: str, prefix: str) -> None:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})


def encoder_speed(codec: str, bit_rate: int, options: dict[str, str], samples: np.ndarray, rate: int) -> float:
    """× real time of the encoder alone: frames made beforehand, no resampling, no muxing."""
    context = av.CodecContext.create(codec, "w")
    context.sample_rate, context.layout, context.format, context.bit_rate = rate, "mono", "fltp", bit_rate
    context.time_base, context.options = Fraction(1, rate), options
    context.open()
    size = context.frame_size
    frames = []
    for start in range(0, samples.size - size, size):
        frame = av.AudioFrame.from_ndarray(samples[start : start + size].reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, context.time_base
        frames.append(frame)
    started = time.monotonic()
    for frame in frames:
        context.encode(frame)
    context.encode(None)
    return len(frames) * size / rate / (time.monotonic() - started)


def encoder_speeds(rate: int, runs: int) -> dict[str, list[float]]:
    """The writer's mp3 and m4b encoders on two minutes of the same speech."""
    from worker.audio.assembly import (  # what the writer really uses
        _ENCODER_OPTIONS,
        _WRITERS,
    )
    from worker.emulator import speech

    pcm, native = speech.synthesize(" ".join(paragraph(n) for n in range(4)))
    pcm = codec.resample_pcm16(pcm, from_rate=native, to_rate=rate)
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
    samples = np.tile(samples, int(np.ceil(120 * rate / samples.size)))
    speeds: dict[str, list[float]] = {}
    for fmt in ("mp3", "m4b"):
        _, encoder, _, bit_rate = _WRITERS[fmt]
        options = _ENCODER_OPTIONS.get(encoder, {})
        speeds[encoder] = [encoder_speed(encoder, bit_rate or 0, options, samples, rate) for _ in range(runs)]
    return speeds


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.assembly", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=2, help="runs of each book length (of the longest: --long-runs)")
    parser.add_argument("--hours", type=float, nargs="+", default=[1.0, 10.0], help="book lengths in hours")
    parser.add_argument("--long-runs", type=int, default=1, help="runs of the longest book")
    parser.add_argument("--rate", type=int, default=22_050, help="chunk sample rate (the emulator's: 22050)")
    return parser.parse_args()


def main() -> list[Figure]:
    args = arguments()
    hours = sorted(set(args.hours))
    runs = {h: args.long_runs if len(hours) > 1 and h == hours[-1] else args.runs for h in hours}
    results: dict[float, list[dict[str, float]]] = {h: [] for h in hours}
    with stack("assembly") as local:
        point_process_at(local)
        bucket = make_bucket("bench-assembly")
        paragraphs = store_chunks(bucket, rate=args.rate)
        log(f"assembly: {PARAGRAPHS} paragraphs, {sum(paragraphs.values()) / 60:.1f} min of distinct speech at {args.rate} Hz in storage")
        for run in range(1, max(runs.values()) + 1):
            for h in (h for h in hours if run <= runs[h]):
                plan = plan_book(bucket, hours=h, paragraphs=paragraphs)
                r = assemble_with_worker(local, plan)
                results[h].append(r)
                log(f"assembly run {run}, {h:g} h ({len(plan.chapters)} chapters, {plan.chunk_count} chunks, {r['book_audio'] / 3600:.2f} h): "
                    f"mp3 {r['chapters_audio'] / r['chapters_wall']:.0f}× in {r['chapters_wall']:.0f} s, "
                    f"m4b {r['book_audio'] / r['book_wall']:.0f}× in {r['book_wall']:.0f} s, peak RSS {r['peak_rss_mb']:.0f} MB")  # fmt: skip
    speeds = encoder_speeds(args.rate, runs=3)
    return figures(results, speeds, rate=args.rate, runs=args.runs)


def figures(results: dict[float, list[dict[str, float]]], speeds: dict[str, list[float]], *, rate: int, runs: int) -> list[Figure]:
    out: list[Figure] = []
    for h, rs in results.items():
        fewer = f"; {len(rs)} run(s), not {runs}: a {h:g} h book takes many minutes" if len(rs) < runs else ""
        chapters = max(1, round(h * 3600 / CHAPTER_SECONDS))
        out += [
            Figure(SCENARIO, f"{h:g} h: chapters to mp3", "× real time", [r["chapters_audio"] / r["chapters_wall"] for r in rs],
                   target=">= 200", note=f"{chapters} chapter tasks on {os.cpu_count()} worker processes, chunks at {rate} Hz{fewer}"),
            Figure(SCENARIO, f"{h:g} h: book to m4b", "× real time", [r["book_audio"] / r["book_wall"] for r in rs], target=">= 200"),
            Figure(SCENARIO, f"{h:g} h: chapters + book", "× real time",
                   [r["book_audio"] / (r["chapters_wall"] + r["book_wall"]) for r in rs],
                   note="start of the first chapter to the finished book"),
            Figure(SCENARIO, f"{h:g} h: peak RSS", "MB", [r["peak_rss_mb"] for r in rs], target="< 300",
                   note="the largest worker pool process; its imports and clients are most of it"),
        ]  # fmt: skip
    if len(results) > 1:
        shortest, longest = min(results), max(results)
        base = statistics.median(r["peak_rss_mb"] for r in results[shortest])
        out.append(Figure(SCENARIO, f"peak RSS {longest:g} h / {shortest:g} h", "", [r["peak_rss_mb"] / base for r in results[longest]],
                          note="what grows is the MP4 muxer's index of every AAC packet, kept until the .m4b is closed"))  # fmt: skip
    for encoder, values in speeds.items():
        out.append(Figure(SCENARIO, f"{encoder} encoder alone", "× real time", values,
                          note=f"the ceiling for one process: {rate} Hz mono, no decoding, resampling or muxing"))  # fmt: skip
    return out


if __name__ == "__main__":
    started = time.monotonic()
    report(main(), path=Path("bench-results-assembly.json"), started=started)
