"""Room tone: the quiet, steady noise bed that fills pauses, heads and tails instead of digital zeros.

Pink noise from FFmpeg's `anoisesrc`, made once per sample rate as a loop of a
few seconds and scaled to the level asked for. Stores reject generated digital
silence; a bed far under -60 dB RMS is inaudible and passes their noise-floor check.
"""

from __future__ import annotations

from functools import lru_cache

import av
import av.error
import av.filter
import numpy as np

from worker.audio.mastering import HIGHPASS_HZ

LEVEL_DB = -70.0
_LOOP_SECONDS = 7.3  # not a round number: a repeat does not line up with pauses of whole seconds


@lru_cache(maxsize=4)
def _unit_loop(rate: int) -> np.ndarray:
    """Pink noise at 0 dB RMS, `_LOOP_SECONDS` long."""
    graph = av.filter.Graph()
    source = graph.add(
        "anoisesrc", f"sample_rate={rate}:amplitude=0.5:color=pink:seed=20260301:duration={_LOOP_SECONDS}"
    )
    # Without the rumble the mastering chain takes out, so the bed keeps its level through it.
    highpass = graph.add("highpass", f"f={HIGHPASS_HZ:g}")
    to_mono = graph.add("aformat", "sample_fmts=flt:channel_layouts=mono")
    sink = graph.add("abuffersink")
    source.link_to(highpass)
    highpass.link_to(to_mono)
    to_mono.link_to(sink)
    graph.configure()
    blocks = []
    while True:
        try:
            blocks.append(sink.pull().to_ndarray().reshape(-1))
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    noise = np.concatenate(blocks).astype(np.float64)
    noise -= noise.mean()
    noise /= np.sqrt(np.mean(noise**2))
    noise.setflags(write=False)
    return noise


class RoomTone:
    """An endless bed at `level_db` RMS; each `take` continues where the last one stopped."""

    def __init__(self, *, rate: int, level_db: float = LEVEL_DB) -> None:
        self.rate = rate
        self._loop = (_unit_loop(rate) * 10 ** (level_db / 20)).astype(np.float32)
        self._position = 0

    def take(self, samples: int) -> np.ndarray:
        out = np.empty(max(0, samples), dtype=np.float32)
        filled = 0
        while filled < out.size:
            step = min(out.size - filled, self._loop.size - self._position)
            out[filled : filled + step] = self._loop[self._position : self._position + step]
            filled += step
            self._position = (self._position + step) % self._loop.size
        return out

    def seconds(self, seconds: float) -> np.ndarray:
        return self.take(int(round(seconds * self.rate)))
