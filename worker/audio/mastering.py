"""The mastering chain, in FFmpeg's own filters through PyAV's filter graph.

highpass (rumble) → volume (the gain that brings the file to its RMS target) →
aresample ×4 → alimiter (peaks held under the ceiling, between the samples too,
latency compensated so every sample stays where it was) → aresample back →
ebur128 (true and sample peak of what comes out).
Blocks of mono float samples go in and come out in order; memory is the
filters' own state, whatever the length of the book.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
import av.error
import av.filter
import numpy as np

from worker.audio.loudness import FLOOR_DB

HIGHPASS_HZ = 80.0
# Under ACX's -3 dB with room for what the MP3 and AAC encoders add to peaks.
CEILING_DB = -4.5
OVERSAMPLE = 4


class MasteringChain:
    """One file's chain: `process` each block in order, then `finish` once for the limiter's last samples."""

    def __init__(self, *, rate: int, gain_db: float, ceiling_db: float = CEILING_DB, highpass_hz: float = HIGHPASS_HZ) -> None:
        self.rate = rate
        self._graph = av.filter.Graph()
        self._source = self._graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
        chain = [
            ("highpass", f"f={highpass_hz:g}"),
            ("volume", f"volume={gain_db:.4f}dB"),
            # Limited at 4x the rate, so peaks between the samples are held too (a true-peak limiter);
            # level=0: no auto-gain after limiting; latency=1: output aligned with input.
            ("aresample", f"{rate * OVERSAMPLE}"),
            ("alimiter", f"limit={10 ** (ceiling_db / 20):.6f}:level=0:latency=1:attack=2:release=20"),
            ("aresample", f"{rate}"),
            ("ebur128", "peak=true+sample:metadata=1"),
        ]
        previous = self._source
        for name, arguments in chain:
            node = self._graph.add(name, arguments)
            previous.link_to(node)
            previous = node
        self._sink = self._graph.add("abuffersink")
        previous.link_to(self._sink)
        self._graph.configure()
        self._pts = 0
        self._metadata: dict[str, str] = {}

    def process(self, block: np.ndarray) -> Iterator[np.ndarray]:
        if block.size == 0:
            return
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = self.rate, self._pts, Fraction(1, self.rate)
        self._pts += block.size
        self._source.push(frame)
        yield from self._drain()

    def finish(self) -> Iterator[np.ndarray]:
        self._source.push(None)
        yield from self._drain()

    @property
    def true_peak_db(self) -> float:
        return _db(self._metadata.get("lavfi.r128.true_peak"))

    @property
    def sample_peak_db(self) -> float:
        return _db(self._metadata.get("lavfi.r128.sample_peak"))

    def _drain(self) -> Iterator[np.ndarray]:
        while True:
            try:
                frame = self._sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            self._metadata = dict(frame.metadata) or self._metadata
            yield frame.to_ndarray().reshape(-1)


def _db(linear: str | None) -> float:
    value = float(linear or 0.0)
    return max(FLOOR_DB, 20.0 * float(np.log10(value))) if value > 0 else FLOOR_DB
