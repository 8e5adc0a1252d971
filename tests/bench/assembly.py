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
import io
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import av
import boto3
import numpy as np
import psutil
from scipy.signal import correlate

from producer.dev.services import Service
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
RATE = 44_100
CHAPTER_SECONDS = 1800.0
BIT_RATE = 192_000
VOICE = ModelVoice(reference_id="benchvoice")
PARAGRAPHS = 14  # distinct paragraphs; chapters take them in rotation

_WORDS = (
    "river",
    "lantern",
    "harbour",
    "morning",
    "letter",
    "garden",
    "mountain",
    "window",
    "winter",
    "station",
    "captain",
    "meadow",
    "silver",
    "journey",
    "evening",
    "bridge",
    "village",
    "promise",
    "shadow",
    "orchard",
)


def paragraph(n: int) -> str:
    """A paragraph of 4 to 14 distinct sentences: one or two chunks, 6 to 60 seconds spoken (about 40 on average)."""
    sentences = []
    for s in range(4 + (n * 5) % 11):
        a, b, c = (_WORDS[(n * 7 + s * k) % len(_WORDS)] for k in (1, 3, 5))
        sentences.append(f"In part {n}, line {s}, the {a} by the {b} waited for the {c}, as it had every day before.")
    return " ".join(sentences)


def store_chunks(bucket: str) -> dict[str, float]:
    """Speak every distinct chunk of the paragraph pool once and store it at 44.1 kHz; returns each paragraph's
    seconds."""
    from producer.dev.emulator import speech
    from worker.storage import Storage

    storage, settings = Storage.from_settings(get_settings()), get_settings()
    seconds: dict[str, float] = {}
    for n in range(PARAGRAPHS):
        text = paragraph(n)
        chapter = plan_chapter(
            index=0, title="", text=text, voice=VOICE, model=settings.fish_model, max_bytes=settings.chunk_bytes
        )
        total = 0.0
        for chunk in chapter.chunks:
            pcm, native = speech.synthesize(chunk.text)
            pcm = codec.resample_pcm16(pcm, from_rate=native, to_rate=RATE)
            storage.put(
                bucket,
                chunk.key,
                codec.encode_pcm16(pcm, sample_rate=RATE, fmt="wav"),
                content_type=codec.CONTENT_TYPES["wav"],
            )
            total += len(pcm) / 2 / RATE
        seconds[text] = total + (len(chapter.chunks) - 1) * 0.25  # sentence pauses inside the paragraph
    return seconds


def plan_book(bucket: str, *, hours: float, paragraphs: dict[str, float]) -> BookPlan:
    """Chapters of about 30 minutes, each from the pool in its own rotation, as the producer would plan them."""
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
        chapters.append(
            plan_chapter(
                index=index,
                title=f"Chapter {index + 1}",
                text="\n\n".join(chosen),
                voice=VOICE,
                model=settings.fish_model,
                max_bytes=settings.chunk_bytes,
            )
        )
    book_id = uuid.uuid4().hex
    return BookPlan(
        book_id=book_id,
        title=f"A {hours:g}-hour book",
        author="Bench Author",
        language="en",
        source="bench",
        voice=VOICE,
        output=Output(bucket=bucket, prefix=f"books-{book_id[:8]}", format="mp3"),
        fish_model=settings.fish_model,
        target_rms_db=settings.target_rms_db,
        submitted_at=datetime.now(UTC),
        chapters=chapters,
        bit_rate=BIT_RATE,
    )


class Book:
    """A planned book stored as a submission stores it, its chapter tasks sent to a real worker."""

    def __init__(self, plan: BookPlan) -> None:
        from worker.app import make_app
        from worker.books.state import BookState
        from worker.storage import Storage

        self.plan = plan
        self.storage, self.state = Storage.from_settings(get_settings()), BookState.from_url(get_settings().broker_url)
        self.app = make_app(get_settings())  # made now: the stack's broker
        self.storage.put(
            plan.output.bucket,
            keys.book_plan(plan.output.prefix, plan.book_id),
            plan.model_dump_json().encode(),
            content_type="application/json",
        )
        self.state.create(plan, cached=plan.chunk_count, estimated_cost_usd=0.0, notify_url=None)

    def send_chapter(self, index: int) -> None:
        self.app.send_task(
            BOOK_CHAPTER_TASK,
            args=(self.plan.book_id, self.plan.output.bucket, self.plan.output.prefix, index),
            queue=ASSEMBLY_QUEUE,
        )

    def wait_chapters(self, indexes: set[int]) -> None:
        while not indexes <= self.state.chapters_done(self.plan.book_id):
            self._check()
            time.sleep(0.05)

    def wait_book(self) -> float:
        while self.state.state_of(self.plan.book_id) != "succeeded":
            self._check()
            time.sleep(0.02)
        return time.monotonic()

    def copy_part(self, source: int, target: int) -> None:
        """Chapter `target` done, with chapter `source`'s part as its own (as if its task had run)."""
        bucket, prefix, book_id = self.plan.output.bucket, self.plan.output.prefix, self.plan.book_id
        # Uploaded again rather than copied in S3: the S3 server here gets the checksum of a copy wrong.
        frames = Path(tempfile.gettempdir()) / f"narrate-bench-part-{book_id}.aac"
        if not frames.exists():
            self.storage.get_file(bucket, keys.book_part(prefix, book_id, source, "aac"), str(frames))
        self.storage.put_file(
            bucket, keys.book_part(prefix, book_id, target, "aac"), str(frames), content_type="audio/aac"
        )
        record = self.storage.get(bucket, keys.book_part(prefix, book_id, source, "npz")) or b""
        self.storage.put(
            bucket, keys.book_part(prefix, book_id, target, "npz"), record, content_type="application/octet-stream"
        )
        decoded = self.state.get(book_id)["chapters"][source]  # type: ignore[index]
        fields = {
            name: json.dumps(value) if isinstance(value, (dict, list)) else value for name, value in decoded.items()
        }
        fields.pop("index", None)
        fields.pop("state", None)
        fields["title"] = self.plan.chapters[target].title
        self.state.chapter_done(book_id, target, **fields)

    def _check(self) -> None:
        if self.state.state_of(self.plan.book_id) == "failed":
            raise RuntimeError(f"the benchmark book failed: {(self.state.get(self.plan.book_id) or {}).get('error')}")


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


def marks_error_ms(book: Book, last: int) -> list[float]:
    """Per chapter: how far (ms) its first words in the decoded .m4b lie from its mark, found by correlation with its
    chapter file."""
    plan, bucket = book.plan, book.plan.output.bucket
    m4b = Path(tempfile.gettempdir()) / f"narrate-bench-{plan.book_id}.m4b"
    book.storage.get_file(bucket, keys.book_audio(plan.output.prefix, plan.book_id), str(m4b))
    head = round(plan.pauses.head_seconds * RATE)
    errors = []
    try:
        with av.open(str(m4b)) as container:
            marks = [float(c["start"] * c["time_base"]) for c in container.chapters()]
        for index in sorted({0, 1, last}):  # the others are copies of chapter 2
            chapter = decode(
                book.storage.get(bucket, keys.book_chapter_audio(plan.output.prefix, plan.book_id, index, "mp3")) or b""
            )
            words = chapter[head : head + RATE // 2]
            expected = plan.pauses.head_seconds if index == 0 else marks[index]
            window_start = max(0.0, expected - 0.3)
            audio = decode_window(m4b, start=window_start, seconds=1.2)
            scores = correlate(audio.astype(np.float64), words.astype(np.float64), mode="valid", method="fft")
            found = window_start + int(np.argmax(scores)) / RATE
            errors.append(abs(found - expected) * 1000)
    finally:
        m4b.unlink(missing_ok=True)
    return errors


def decode(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])


def decode_window(path: Path, *, start: float, seconds: float) -> np.ndarray:
    """`seconds` of decoded audio from `start`, sample-exact (decoding from a second earlier, trimming by
    timestamps)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        container.seek(int(max(0.0, start - 1.0) / stream.time_base), stream=stream)
        pieces, first = [], None
        for frame in container.decode(stream):
            at = float(frame.pts * stream.time_base)
            if at + frame.samples / RATE < start:
                continue
            samples = frame.to_ndarray().reshape(-1)
            if first is None:
                samples, first = samples[max(0, round((start - at) * RATE)) :], start
            pieces.append(samples)
            if sum(p.size for p in pieces) >= seconds * RATE:
                break
    return np.concatenate(pieces)[: int(seconds * RATE)]


def pool_peak_mb(worker: Service) -> float:
    """The largest peak resident set (VmHWM) among the worker's pool processes, in MB."""
    peaks = []
    for child in psutil.Process(worker.process.pid).children():
        for line in Path(f"/proc/{child.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def pool_cpu_seconds(worker: Service) -> float:
    """User and system CPU seconds the worker's pool processes have used so far."""
    return sum(sum(child.cpu_times()[:2]) for child in psutil.Process(worker.process.pid).children())


def delete_outputs(bucket: str, prefix: str) -> None:
    s3 = boto3.client("s3")
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        objects = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if objects:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})


def per_core(runs: int) -> dict[str, list[float]]:
    """× real time per CPU second: the chain, the MP3 encoder and the AAC encoder on 10 minutes of speech, one
    thread."""
    from producer.dev.emulator import speech
    from worker.audio.aac import AacFrames
    from worker.audio.assembly import AudioFileWriter
    from worker.books.pcm import Mastered

    pcm, native = speech.synthesize(" ".join(paragraph(n) for n in range(4)))
    voice = (
        np.frombuffer(codec.resample_pcm16(pcm, from_rate=native, to_rate=RATE), dtype=np.int16).astype(np.float32)
        / 32768
    )
    seconds = 600
    audio = np.tile(voice, int(np.ceil(seconds * RATE / voice.size)))[: seconds * RATE // 1024 * 1024]
    blocks = [audio[i : i + RATE] for i in range(0, audio.size, RATE)]
    results: dict[str, list[float]] = {"chain": [], "mp3": [], "aac": [], "encoders": [], "all": []}
    folder = Path(tempfile.mkdtemp(prefix="narrate-bench-"))
    try:
        for _ in range(runs):
            cpu = {}
            mastered_blocks: list[np.ndarray] = []
            started = time.process_time()
            mastered = Mastered(rate=RATE, gain_db=2.0)
            mastered_blocks = [*mastered.feed(iter(blocks)), *mastered.finish()]
            cpu["chain"] = time.process_time() - started
            started = time.process_time()
            writer = AudioFileWriter(folder / "c.mp3", fmt="mp3", rate=RATE, bit_rate=BIT_RATE)
            for block in mastered_blocks:
                writer.write(block)
            writer.close()
            cpu["mp3"] = time.process_time() - started
            started = time.process_time()
            frames = AacFrames(folder / "c.aac", rate=RATE)
            for block in mastered_blocks:
                frames.write(block)
            frames.close()
            cpu["aac"] = time.process_time() - started
            cpu["encoders"] = cpu["mp3"] + cpu["aac"]
            cpu["all"] = cpu["chain"] + cpu["encoders"]
            for name, value in cpu.items():
                results[name].append(seconds / value)
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    return results


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
