"""What the assembly benchmark measures besides wall time: chapter marks against the words in the decoded .m4b, the
worker pool's peak RSS and CPU seconds, and the per-core speed of the mastering chain and the encoders."""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import psutil
from scipy.signal import correlate

from producer.dev.services import Service
from tests.bench.assembly_book import BIT_RATE, RATE, Book, paragraph
from worker import keys
from worker.audio import codec


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
