"""Decode audio made in the emulator's tone mode back into the tones it is made of.

In tone mode every TTS answer is a sine whose frequency stands for its text
(producer.dev.emulator.tones.tone_frequency). An audiobook assembled from such parts
is a row of tones separated by pauses, so its order can be checked:

    samples, rate = decode_mono(audiobook_bytes)
    found = [nearest_tone(f) for f in tone_sequence(samples, rate)]
    assert found == [tone_frequency(text) for text in texts]
"""

from __future__ import annotations

import io

import av
import numpy as np

from producer.dev.emulator.tones import BASE_HZ, STEP_HZ, STEPS

FRAME_SECONDS = 0.02
SILENCE_DB = -40.0  # a frame this far below the loudest one is silence
EDGE_SECONDS = 0.02  # trimmed off each end of a segment before measuring its pitch
LOWEST_HZ = 20.0  # ignore DC and rumble when looking for the peak

__all__ = ["decode_mono", "decoded_tones", "nearest_tone", "tone_segments", "tone_sequence"]


def decode_mono(data: bytes) -> tuple[np.ndarray, int]:
    """Decode audio bytes (mp3, wav, ogg/opus, mp4/m4b aac, ...) to mono float32 in [-1, 1] and its rate."""
    chunks: list[np.ndarray] = []
    rate = 0
    with av.open(io.BytesIO(data), mode="r") as container:
        if not container.streams.audio:
            raise ValueError("the data holds no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="flt", layout="mono")  # keeps the stream's rate
        for frame in container.decode(stream):
            frame.pts = None  # timestamps do not matter here; gaps in them must not confuse the resampler
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1)[: out.samples])
                rate = out.sample_rate
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1)[: out.samples])
            rate = out.sample_rate or rate
        rate = rate or stream.codec_context.sample_rate or 0
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    return np.clip(samples.astype(np.float32, copy=False), -1.0, 1.0), int(rate)


def tone_segments(
    samples: np.ndarray,
    sample_rate: int,
    *,
    min_gap_seconds: float = 0.15,
    min_tone_seconds: float = 0.3,
    silence_db: float = SILENCE_DB,
) -> list[tuple[int, int]]:
    """(start, end) sample indices of the sounding stretches between silences.

    A 20 ms frame is silent when its RMS is `silence_db` below the loudest
    frame's, so a gain change does not move the split points. Silences shorter
    than `min_gap_seconds` do not split; stretches shorter than
    `min_tone_seconds` are dropped.
    """
    signal = np.asarray(samples, dtype=np.float64).reshape(-1)
    frame = max(1, round(FRAME_SECONDS * sample_rate))
    count = -(-len(signal) // frame)  # the last, partial frame counts too
    if count == 0:
        return []
    padded = np.zeros(count * frame)
    padded[: len(signal)] = signal
    rms = np.sqrt(np.mean(padded.reshape(count, frame) ** 2, axis=1))
    loudest = float(rms.max())
    if loudest <= 0:
        return []
    loud = (rms >= loudest * 10 ** (silence_db / 20)).astype(np.int8)
    edges = np.flatnonzero(np.diff(np.concatenate(([0], loud, [0]))))
    runs = [[int(start), int(end)] for start, end in edges.reshape(-1, 2)]  # frame indices, end exclusive
    merged: list[list[int]] = []
    for run in runs:
        if merged and (run[0] - merged[-1][1]) * frame < min_gap_seconds * sample_rate:
            merged[-1][1] = run[1]
        else:
            merged.append(run)
    segments = []
    for start, end in merged:
        first, last = start * frame, min(end * frame, len(signal))
        if last - first >= min_tone_seconds * sample_rate:
            segments.append((first, last))
    return segments


def dominant_frequency(samples: np.ndarray, sample_rate: int) -> float:
    """The strongest frequency (Hz): Hann-windowed FFT peak, refined by parabolic interpolation."""
    signal = np.asarray(samples, dtype=np.float64).reshape(-1)
    edge = round(EDGE_SECONDS * sample_rate)
    if len(signal) > 4 * edge:  # skip fades and codec transients at the ends
        signal = signal[edge:-edge]
    if len(signal) < 4:
        raise ValueError("too few samples to measure a frequency")
    signal = (signal - signal.mean()) * np.hanning(len(signal))
    size = 1 << (int(np.ceil(np.log2(len(signal)))) + 1)  # zero-padded to at least twice the length
    spectrum = np.log(np.abs(np.fft.rfft(signal, size)) + 1e-12)
    lowest = max(1, int(np.ceil(LOWEST_HZ * size / sample_rate)))
    peak = lowest + int(np.argmax(spectrum[lowest:-1]))
    left, middle, right = spectrum[peak - 1], spectrum[peak], spectrum[peak + 1]
    curvature = left - 2 * middle + right
    offset = 0.5 * (left - right) / curvature if curvature < 0 else 0.0
    return float((peak + offset) * sample_rate / size)


def tone_sequence(
    samples: np.ndarray,
    sample_rate: int,
    *,
    min_gap_seconds: float = 0.15,
    min_tone_seconds: float = 0.3,
) -> list[float]:
    """The dominant frequency of each sounding segment, in order (see tone_segments)."""
    signal = np.asarray(samples, dtype=np.float64).reshape(-1)
    segments = tone_segments(signal, sample_rate, min_gap_seconds=min_gap_seconds, min_tone_seconds=min_tone_seconds)
    return [dominant_frequency(signal[start:end], sample_rate) for start, end in segments]


def nearest_tone(freq: float) -> float:
    """Snap a measured frequency to the grid tone_frequency picks from (300, 320, ..., 1880 Hz)."""
    step = round((freq - BASE_HZ) / STEP_HZ)
    return BASE_HZ + STEP_HZ * min(max(step, 0), STEPS - 1)


def decoded_tones(data: bytes, **options: float) -> list[float]:
    """decode_mono, tone_sequence and nearest_tone in one: the grid tones an audio file holds."""
    samples, rate = decode_mono(data)
    return [nearest_tone(freq) for freq in tone_sequence(samples, rate, **options)]
