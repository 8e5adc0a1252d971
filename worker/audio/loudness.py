"""Streaming loudness measurement; the ACX (audiobook store) checks of its figures are in worker.audio.acx.

`LoudnessMeter` takes mono float samples in any number of blocks and keeps
constant memory: filter state, running sums, and two fixed-size histograms.
Integrated loudness follows ITU-R BS.1770-4 / EBU R128 (K-weighting, 400 ms
blocks every 100 ms, absolute gate -70 LUFS, relative gate -10 LU).

The noise floor is measured as the audiobook store measures it: the RMS level
(dBFS) of the quietest of the consecutive, non-overlapping 0.5 s windows of the
unweighted signal, which in a mastered file is room tone, never speech. It is
read from a 0.1 dB histogram from -120 to 0 dB (the mean of the window levels
in the lowest bin that holds any). A window of pure digital silence counts as
-120 dB and is also counted apart (`silent_seconds`): generated silence is a
defect of its own. A trailing partial window is ignored unless the signal is
shorter than one window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

FLOOR_DB = -120.0  # stands in for -inf so every figure stays JSON-ready

_MIN_SAMPLE_RATE = 8_000
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE = -10.0
_LUFS_OFFSET = -0.691
_GATE_BIN = 0.01  # LU; blocks from -70 to +10 LUFS (louder ones land in the top bin)
_GATE_BINS = 8_000
_NOISE_WINDOW_SECONDS = 0.5
_NOISE_BIN = 0.1  # dB; windows from -120 to 0 dBFS
_NOISE_BINS = 1_200


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    rms_db: float
    peak_db: float
    noise_floor_db: float
    duration_seconds: float
    silent_seconds: float = 0.0  # in 0.5 s windows of digital zeros


def k_weighting(sample_rate: int) -> np.ndarray:
    """The two K-weighting biquads as second-order sections, for any sample rate.

    Bilinear transform of the analog prototypes, as libebur128 derives them, so
    rates other than 48 kHz (where BS.1770 tabulates coefficients) are exact.
    """
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / sample_rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / sample_rate)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


class _Segmenter:
    """Sums a stream over consecutive fixed-length segments, keeping only the unfinished one."""

    def __init__(self, length: int) -> None:
        self.length = length
        self.partial_sum = 0.0
        self.partial_count = 0

    def push(self, values: np.ndarray) -> np.ndarray:
        need = self.length - self.partial_count
        if values.size < need:
            self.partial_sum += float(values.sum())
            self.partial_count += values.size
            return np.empty(0)
        head = self.partial_sum + float(values[:need].sum())
        rest = values[need:]
        full = rest.size // self.length
        sums = rest[: full * self.length].reshape(full, self.length).sum(axis=1)
        tail = rest[full * self.length :]
        self.partial_sum = float(tail.sum())
        self.partial_count = tail.size
        return np.concatenate(([head], sums))


def _db(power: float) -> float:
    return max(FLOOR_DB, 10.0 * math.log10(power)) if power > 0.0 else FLOOR_DB


_MERGED = ("_gate_counts", "_gate_energy", "_noise_counts", "_noise_db_sums", "_level_counts", "_level_energy")


class LoudnessMeter:
    """Measures one mono signal fed in blocks of any length; memory does not grow with it."""

    def __init__(self, sample_rate: int, *, levels: bool = True) -> None:
        """`levels=False`: no sample-level histogram, which only `gain_for_rms` reads (for finished audio)."""
        if sample_rate < _MIN_SAMPLE_RATE:
            raise ValueError(f"sample_rate must be at least {_MIN_SAMPLE_RATE} Hz, got {sample_rate}")
        self.sample_rate = sample_rate
        # The two biquads as one 4th-order filter: lfilter runs it 2.5x faster, within 1e-9 of them up to 192 kHz.
        shelf, highpass = k_weighting(sample_rate)
        self._b, self._a = np.convolve(shelf[:3], highpass[:3]), np.convolve(shelf[3:], highpass[3:])
        self._zi, self._levels = np.zeros(self._a.size - 1), levels
        self._samples, self._sum_squares, self._peak = 0, 0.0, 0.0
        # 100 ms hops of K-weighted energy; a 400 ms block is four consecutive hops.
        self._hop = _Segmenter((sample_rate + 5) // 10)
        self._recent_hops = np.empty(0)  # at most the last three
        self._gate_counts = np.zeros(_GATE_BINS, dtype=np.int64)
        # Per-bin sums of block energy make the gated mean exact except at the threshold bin.
        self._gate_energy = np.zeros(_GATE_BINS)
        self._window = _Segmenter(round(sample_rate * _NOISE_WINDOW_SECONDS))
        self._noise_counts = np.zeros(_NOISE_BINS, dtype=np.int64)
        self._noise_db_sums = np.zeros(_NOISE_BINS)
        self._silent_windows = 0
        # Sample levels (0.1 dB bins) with their energy: what a gain and a peak ceiling would leave of the RMS.
        self._level_counts = np.zeros(_NOISE_BINS, dtype=np.int64)
        self._level_energy = np.zeros(_NOISE_BINS)

    def add(self, samples: np.ndarray) -> None:
        """Feed the next mono float samples (nominally in [-1, 1])."""
        # Imported here: importing scipy.signal slows every worker's start by a second.
        from scipy.signal import lfilter

        x = np.asarray(samples)
        if x.ndim != 1:
            raise ValueError(f"expected mono (1-D) samples, got shape {x.shape}")
        if not np.issubdtype(x.dtype, np.floating):
            raise TypeError(f"expected float samples in [-1, 1], got {x.dtype}")
        if x.size == 0:
            return
        x = x.astype(np.float64, copy=False)
        if not np.isfinite(x).all():
            raise ValueError("samples hold NaN or infinity")
        squares = x * x
        self._samples += x.size
        self._sum_squares += float(squares.sum())
        self._peak = max(self._peak, float(np.abs(x).max()))
        self._add_windows(self._window.push(squares))
        if self._levels:
            self._add_levels(squares)
        weighted, self._zi = lfilter(self._b, self._a, x, zi=self._zi)
        self._add_hops(self._hop.push(weighted * weighted))

    def _add_hops(self, hop_sums: np.ndarray) -> None:
        hops = np.concatenate((self._recent_hops, hop_sums))
        self._recent_hops = hops[-3:]
        if hops.size < 4:
            return
        block_energy = (hops[:-3] + hops[1:-2] + hops[2:-1] + hops[3:]) / (4 * self._hop.length)
        with np.errstate(divide="ignore"):
            lufs = _LUFS_OFFSET + 10.0 * np.log10(block_energy)
        keep = lufs > _ABSOLUTE_GATE
        bins = np.clip(((lufs[keep] - _ABSOLUTE_GATE) / _GATE_BIN).astype(np.int64), 0, _GATE_BINS - 1)
        self._gate_counts += np.bincount(bins, minlength=_GATE_BINS)
        self._gate_energy += np.bincount(bins, weights=block_energy[keep], minlength=_GATE_BINS)

    def _add_windows(self, window_sums: np.ndarray) -> None:
        if window_sums.size == 0:
            return
        with np.errstate(divide="ignore"):
            levels = np.maximum(10.0 * np.log10(window_sums / self._window.length), FLOOR_DB)
        bins = np.clip(((levels - FLOOR_DB) / _NOISE_BIN).astype(np.int64), 0, _NOISE_BINS - 1)
        self._noise_counts += np.bincount(bins, minlength=_NOISE_BINS)
        self._silent_windows += int(np.count_nonzero(window_sums == 0.0))
        self._noise_db_sums += np.bincount(bins, weights=levels, minlength=_NOISE_BINS)

    def _add_levels(self, squares: np.ndarray) -> None:
        with np.errstate(divide="ignore"):
            levels = np.maximum(10.0 * np.log10(squares), FLOOR_DB)
        bins = np.clip(((levels - FLOOR_DB) / _NOISE_BIN).astype(np.int64), 0, _NOISE_BINS - 1)
        self._level_counts += np.bincount(bins, minlength=_NOISE_BINS)
        self._level_energy += np.bincount(bins, weights=squares, minlength=_NOISE_BINS)

    def gain_for_rms(self, *, target_rms_db: float, ceiling_db: float, max_gain_db: float = 40.0) -> float:
        """dB of gain after which the signal, its peaks limited to `ceiling_db`, has `target_rms_db` RMS.

        A limiter takes energy out of the peaks it holds down: on speech with a high crest
        factor, plain gain to the target would fall short. Each sample level's energy is
        counted at the gain, or at the ceiling if the gain would take it past; the gain
        that meets the target is found by bisection. 0.0 for silence.
        """
        if not self._levels:
            raise ValueError("this meter was made with levels=False: it cannot tell the gain")
        if self._samples == 0 or self._sum_squares == 0.0:
            return 0.0
        top = 10.0 ** (((np.arange(_NOISE_BINS) + 1) * _NOISE_BIN + FLOOR_DB) / 10.0)  # each bin's upper power
        ceiling, target = 10.0 ** (ceiling_db / 10.0), 10.0 ** (target_rms_db / 10.0)

        def power(gain_db: float) -> float:
            g = 10.0 ** (gain_db / 10.0)
            held = top * g > ceiling
            return float(
                (self._level_energy[~held].sum() * g + self._level_counts[held].sum() * ceiling) / self._samples
            )

        low, high = -max_gain_db, max_gain_db
        if power(high) < target:
            return high
        for _ in range(40):
            middle = (low + high) / 2
            low, high = (middle, high) if power(middle) < target else (low, middle)
        return (low + high) / 2

    def _integrated(self) -> float:
        blocks = int(self._gate_counts.sum())
        if blocks == 0:
            return FLOOR_DB  # nothing above the absolute gate, or shorter than one block
        threshold = _LUFS_OFFSET + 10.0 * math.log10(float(self._gate_energy.sum()) / blocks) + _RELATIVE_GATE
        # As libebur128 does, the bin holding the threshold counts as above it.
        start = min(max(int((threshold - _ABSOLUTE_GATE) / _GATE_BIN), 0), _GATE_BINS - 1)
        gated = int(self._gate_counts[start:].sum())
        return max(FLOOR_DB, _LUFS_OFFSET + 10.0 * math.log10(float(self._gate_energy[start:].sum()) / gated))

    def _noise_floor(self) -> float:
        windows = int(self._noise_counts.sum())
        if windows == 0:
            partial = self._window.partial_count
            return _db(self._window.partial_sum / partial) if partial else FLOOR_DB
        index = int(np.flatnonzero(self._noise_counts)[0])
        return max(FLOOR_DB, float(self._noise_db_sums[index] / self._noise_counts[index]))

    def state(self) -> dict[str, np.ndarray]:
        """What `result` reads, as arrays: a book's chapters are measured apart and merged."""
        scalars = np.array([self._samples, self._sum_squares, self._peak, self._silent_windows], dtype=np.float64)
        return {"scalars": scalars, **{name.lstrip("_"): getattr(self, name) for name in _MERGED}}

    def merge(self, state: dict[str, np.ndarray]) -> None:
        """Add a meter's `state`, as if its samples had followed these (blocks across the join aside)."""
        samples, sum_squares, peak, silent = (float(value) for value in state["scalars"])
        self._samples += int(samples)
        self._sum_squares += sum_squares
        self._peak = max(self._peak, peak)
        self._silent_windows += int(silent)
        for name in _MERGED:
            setattr(self, name, getattr(self, name) + state[name.lstrip("_")])

    def result(self) -> Loudness:
        """The measurement so far; the meter can keep taking samples afterwards."""
        return Loudness(
            integrated_lufs=self._integrated(),
            rms_db=_db(self._sum_squares / self._samples) if self._samples else FLOOR_DB,
            peak_db=max(FLOOR_DB, 20.0 * math.log10(self._peak)) if self._peak > 0.0 else FLOOR_DB,
            noise_floor_db=self._noise_floor(),
            duration_seconds=self._samples / self.sample_rate,
            silent_seconds=float(self._silent_windows) * _NOISE_WINDOW_SECONDS,
        )


def measure(samples: np.ndarray, *, sample_rate: int) -> Loudness:
    """Measure one whole mono signal."""
    meter = LoudnessMeter(sample_rate)
    meter.add(samples)
    return meter.result()
