"""Assembly at the rate Fish really returns (44.1 kHz): the tail after a book's last chunk, per-core speed, memory.

Chunks are spoken by espeak-ng (as the emulator speaks them), resampled to
44.1 kHz and stored at the keys the real `plan_chapter` gives them, from a pool
of paragraphs that chapters take in rotation. Chapters are 30 minutes, with
MP3 at 192 kbps CBR (the acx preset's) as the chapter format.

- **tail**: a 10-hour book of 20 chapters, with chapters 1 to 19 assembled as
  they would be while the rest of the book renders (the fleet keeps up with
  Fish): the figure is the time from the moment chapter 20's last chunk is
  stored (its chapter task is sent) until the book's manifest is written, on a
  real worker with this machine's processes. Chapters 2 to 19 reuse chapter 2's
  part (uploaded again), which the book task cannot tell from its own.
- **chapter, per core**: the mastering chain, the MP3 encoder and the AAC
  encoder over 10 minutes of chapter audio in this process, in CPU seconds;
  and the two encoders together, with no mastering: the ceiling on the whole.
- **whole chapter task**: chapter 20's task alone (fetch, decode, measure,
  spool, master, both encoders in their threads, upload), wall time.
- **its CPU**: the CPU seconds the worker's pool used during that task. The
  work is the same every run, so where this varies the machine's speed did
  (this one's shares its cores), and the wall time follows it.
- **peak RSS**: VmHWM of the worker's pool processes, after the 10-hour tail
  runs (chapter tasks and book tasks) and after one 40-hour book (80 chapters
  from copied parts).
- **chapter marks**: where each chapter's first words really are in the
  decoded .m4b (correlated against its chapter file), against its mark.

    python -m tests.bench.assembly [RUNS] [--long-hours 40]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import boto3
import numpy as np

from producer.dev.stack import LocalStack
from tests.bench.assembly_book import PARAGRAPHS, RATE, Book, plan_book, store_chunks
from tests.bench.assembly_measures import marks_error_ms, per_core, pool_cpu_seconds, pool_peak_mb
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

SCENARIO = "4 assembly"


def tail_run(local: LocalStack, paragraphs: dict[str, float], bucket: str, *, hours: float) -> dict[str, float]:
    """Chapters 1 and 2 assembled, 2's part copied to 3 .. N-1, then the last chapter's task: the tail, to the
    manifest."""
    plan = plan_book(bucket, hours=hours, paragraphs=paragraphs)
    last = len(plan.chapters) - 1
    book = Book(plan)
    worker = local.add_worker(concurrency=os.cpu_count() or 2, extra_args=["-Q", ASSEMBLY_QUEUE])
    try:
        for index in (0, 1):
            book.send_chapter(index)
        book.wait_chapters({0, 1})
        for index in range(2, last):
            book.copy_part(1, index)
        cpu_before = pool_cpu_seconds(worker)
        started = time.monotonic()
        book.send_chapter(last)  # its last chunk is stored
        book.wait_chapters({last})
        chapter_done = time.monotonic()
        chapter_cpu = pool_cpu_seconds(worker) - cpu_before
        (Path(tempfile.gettempdir()) / f"narrate-bench-part-{plan.book_id}.aac").unlink(missing_ok=True)
        finished = book.wait_book()
        peak = pool_peak_mb(worker)
        marks = marks_error_ms(book, last) if hours <= 10 else []
    finally:
        worker.stop()
        local.services.remove(worker)
    manifest = json.loads(book.storage.get(bucket, keys.book_manifest(plan.output.prefix, plan.book_id)) or b"{}")
    chapter_seconds = float(book.state.get(plan.book_id)["chapters"][last]["duration_seconds"])  # type: ignore[index]
    delete_outputs(bucket, plan.output.prefix)  # the S3 server keeps objects in memory
    return {
        "tail": finished - started,
        "last_chapter": chapter_done - started,
        "book_task": finished - chapter_done,
        "chapter_audio": chapter_seconds,
        "chapter_cpu": chapter_cpu,
        "book_audio": manifest["chapters"][-1]["end_seconds"],
        "peak_rss_mb": peak,
        "marks_max_ms": max(marks, default=float("nan")),
    }


def delete_outputs(bucket: str, prefix: str) -> None:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.assembly", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="?", type=int, default=3, help="runs of the 10-hour tail")
    parser.add_argument(
        "--long-hours", type=float, default=40.0, help="the book whose peak RSS is measured once (0: skip)"
    )
    return parser.parse_args()


def main() -> list[Figure]:
    args = arguments()
    speeds = per_core(runs=3)
    log("per core: " + ", ".join(f"{name} {np.median(v):.0f}×" for name, v in speeds.items()))
    tails: list[dict[str, float]] = []
    long: dict[str, float] | None = None
    with stack("assembly") as local:
        point_process_at(local)
        bucket = make_bucket("bench-assembly")
        paragraphs = store_chunks(bucket)
        log(
            f"assembly: {PARAGRAPHS} paragraphs, {sum(paragraphs.values()) / 60:.1f} min of distinct speech"
            f" at {RATE} Hz in storage"
        )
        for run in range(1, args.runs + 1):
            r = tail_run(local, paragraphs, bucket, hours=10)
            tails.append(r)
            log(
                f"tail run {run}, 10 h: {r['tail']:.1f} s (last chapter {r['last_chapter']:.1f} s"
                f" for {r['chapter_audio'] / 60:.0f} min, {r['chapter_cpu']:.1f} s of CPU;"
                f" book task {r['book_task']:.1f} s for {r['book_audio'] / 3600:.2f} h),"
                f" peak RSS {r['peak_rss_mb']:.0f} MB, marks within {r['marks_max_ms']:.1f} ms"
            )
        if args.long_hours:
            long = tail_run(local, paragraphs, bucket, hours=args.long_hours)
            log(
                f"{args.long_hours:g} h: book task {long['book_task']:.1f} s for {long['book_audio'] / 3600:.2f} h,"
                f" peak RSS {long['peak_rss_mb']:.0f} MB"
            )
    return figures(tails, long, speeds, long_hours=args.long_hours)


def figures(
    tails: list[dict[str, float]], long: dict[str, float] | None, speeds: dict[str, list[float]], *, long_hours: float
) -> list[Figure]:
    cores = os.cpu_count()
    out = (
        []
        if not tails
        else [
            Figure(
                SCENARIO,
                "tail: last chunk stored → manifest, 10 h, 20 chapters",
                "s",
                [r["tail"] for r in tails],
                target="<= 30",
                note=f"44.1 kHz, mp3 192k chapters; {cores} worker processes;"
                " chapters 1-19 assembled while the book renders",
            ),
            Figure(
                SCENARIO,
                "  of it: the last chapter's task (30 min)",
                "s",
                [r["last_chapter"] for r in tails],
                note="fetch, decode, measure, spool, master, MP3 and AAC in their threads, upload",
            ),
            Figure(
                SCENARIO,
                "  CPU the last chapter's task used",
                "s",
                [r["chapter_cpu"] for r in tails],
                note="the same work every run: where it varies, the machine did; the task's wall time follows it",
            ),
            Figure(
                SCENARIO,
                "  of it: the book task (join, no decoding)",
                "s",
                [r["book_task"] for r in tails],
                note="read the 20 parts' records, send the .m4b's index, S3 copies the frames behind it,"
                " sidecars, manifest",
            ),
        ]
    )
    out += [
        Figure(
            SCENARIO,
            "chapter: master + MP3 192k + AAC 96k, per core",
            "× real time",
            speeds["all"],
            target=">= 100",
            note="CPU time of one thread; the encoders alone bound it",
        ),
        Figure(SCENARIO, "  mastering chain alone", "× real time", speeds["chain"]),
        Figure(SCENARIO, "  MP3 encoder (LAME via lameenc, 192k CBR) alone", "× real time", speeds["mp3"]),
        Figure(SCENARIO, "  AAC encoder (FFmpeg's, 96k) alone", "× real time", speeds["aac"]),
        Figure(
            SCENARIO,
            "  both encoders, no mastering",
            "× real time",
            speeds["encoders"],
            note="the ceiling on master + encode: it can be no faster than its two encoders alone",
        ),
    ]
    out += (
        []
        if not tails
        else [
            Figure(
                SCENARIO,
                "peak RSS, chapter and book tasks, 10 h",
                "MB",
                [r["peak_rss_mb"] for r in tails],
                target="< 300",
            ),
            Figure(
                SCENARIO,
                ".m4b chapter marks vs the words' true starts",
                "ms",
                [r["marks_max_ms"] for r in tails],
                target="<= 23",
                note="the worst of chapters 1, 2 and 20, found by correlating the decoded .m4b with each chapter file",
            ),
        ]
    )
    if long is not None:
        out.append(
            Figure(
                SCENARIO,
                f"peak RSS, chapter and book tasks, {long_hours:g} h",
                "MB",
                [long["peak_rss_mb"]],
                target="< 300",
                note=f"one run; its book task joined {long['book_audio'] / 3600:.1f} h in {long['book_task']:.0f} s",
            )
        )
    return out


if __name__ == "__main__":
    started = time.monotonic()
    report(main(), path=Path("bench-results-assembly.json"), started=started)
