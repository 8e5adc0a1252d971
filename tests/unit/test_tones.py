"""Tone mode's signal (producer.dev.emulator.tones) and the decoder tests use on it (tests.support.tones)."""

from __future__ import annotations

import io
import string

import av
import numpy as np
import pytest

from producer.dev.emulator.tones import tone_duration, tone_frequency, tone_pcm
from tests.support.tones import (
    decode_mono,
    decoded_tones,
    nearest_tone,
    tone_segments,
    tone_sequence,
)
from worker.audio.codec import concatenate, encode_pcm16, open_memory_output

RATE = 22_050
FREQS = [300.0, 1880.0, 740.0, 760.0, 1220.0, 440.0]


def sine(freq: float, seconds: float, *, rate: int = RATE, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return amplitude * np.sin(2 * np.pi * freq * t)


def silence(seconds: float, *, rate: int = RATE) -> np.ndarray:
    return np.zeros(round(seconds * rate))


def to_pcm16(signal: np.ndarray) -> bytes:
    return np.round(np.clip(signal, -1, 1) * 32767).astype("<i2").tobytes()


def known_tones(freqs: list[float], *, rate: int = RATE, seconds: float = 0.5, gap: float = 0.3) -> np.ndarray:
    parts = [silence(0.2, rate=rate)]
    for freq in freqs:
        parts += [sine(freq, seconds, rate=rate), silence(gap, rate=rate)]
    return np.concatenate(parts)


def encode_aac_m4b(signal: np.ndarray, *, rate: int) -> bytes:
    """AAC in an MP4 (m4b) container, as an audiobook would ship."""
    buffer = io.BytesIO()
    with open_memory_output(buffer, fmt="ipod") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        stream.bit_rate = 96_000
        samples = signal.astype(np.float32)
        for start in range(0, len(samples), 1024):
            block = samples[start : start + 1024]
            frame = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="fltp", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def test_tone_frequency_is_deterministic_and_on_the_grid() -> None:
    texts = [f"Sentence number {i}." for i in range(400)] + ["", "é ü 漢字", string.printable]
    freqs = [tone_frequency(text) for text in texts]
    assert freqs == [tone_frequency(text) for text in texts]
    assert all(300 <= f <= 1880 and (f - 300) % 20 == 0 for f in freqs)
    assert len(set(freqs)) > 60  # spread over the 80 tones
    assert tone_frequency("hello") == 300 + 20 * (int("2cf24dba", 16) % 80)


@pytest.mark.parametrize(("text", "seconds"), [("Hi.", 0.6), ("x" * 50, 2.0), ("y" * 500, 4.0)])
def test_tone_pcm_is_a_clean_sine(text: str, seconds: float) -> None:
    assert tone_duration(text) == pytest.approx(seconds)
    pcm = tone_pcm(text, sample_rate=RATE)
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64) / 32767
    assert len(samples) == round(seconds * RATE)
    assert np.abs(samples).max() == pytest.approx(0.3, abs=0.002)
    assert abs(samples[0]) < 0.001 and abs(samples[-1]) < 0.04  # faded in and out: no clicks
    ramp = round(0.01 * RATE)
    assert np.abs(samples[: ramp // 4]).max() < 0.1
    # No internal silence: every 10 ms window past the fades holds the full tone.
    windows = samples[ramp : len(samples) - ramp]
    windows = windows[: len(windows) // ramp * ramp].reshape(-1, ramp)
    assert (np.abs(windows).max(axis=1) > 0.25).all()
    assert tone_sequence(samples, RATE) == [pytest.approx(tone_frequency(text), abs=1)]


@pytest.mark.parametrize("fmt", ["wav", "mp3", "opus"])
def test_known_tones_survive_encoding(fmt: str) -> None:
    data = encode_pcm16(to_pcm16(known_tones(FREQS)), sample_rate=RATE, fmt=fmt)
    samples, rate = decode_mono(data)
    assert rate == (48_000 if fmt == "opus" else RATE)
    assert samples.dtype == np.float32 and np.abs(samples).max() <= 1
    found = tone_sequence(samples, rate)
    assert found == [pytest.approx(freq, abs=3) for freq in FREQS]
    assert [nearest_tone(freq) for freq in found] == FREQS


def test_aac_in_m4b_and_stereo_decode() -> None:
    rate = 44_100
    data = encode_aac_m4b(known_tones(FREQS, rate=rate), rate=rate)
    assert decoded_tones(data) == FREQS
    # Stereo in, mono out.
    buffer = io.BytesIO()
    with open_memory_output(buffer, fmt="wav") as container:
        stream = container.add_stream("pcm_s16le", rate=RATE, layout="stereo")
        mono = (known_tones(FREQS[:2]) * 32767).astype(np.int16)
        frame = av.AudioFrame.from_ndarray(np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = RATE
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    samples, rate = decode_mono(buffer.getvalue())
    assert rate == RATE and samples.ndim == 1
    assert [nearest_tone(f) for f in tone_sequence(samples, rate)] == FREQS[:2]


@pytest.mark.parametrize("gain", [0.01, 3.0])
def test_gain_changes_do_not_matter(gain: float) -> None:
    signal = known_tones(FREQS) * gain
    signal = signal / np.abs(signal).max() if gain > 1 else signal  # normalised to full scale
    data = encode_pcm16(to_pcm16(signal), sample_rate=RATE, fmt="mp3")
    assert decoded_tones(data) == FREQS


def test_precision_off_the_grid() -> None:
    freqs = [333.3, 1001.7, 1500.2]
    found = tone_sequence(known_tones(freqs), RATE)
    assert found == [pytest.approx(freq, abs=0.5) for freq in freqs]


def test_short_gaps_join_and_short_blips_drop() -> None:
    signal = np.concatenate(
        [
            silence(0.2),
            sine(500, 0.5),
            silence(0.05),
            sine(500, 0.5),  # a 50 ms gap does not split
            silence(0.3),
            sine(900, 0.1),  # a 100 ms blip is not a tone
            silence(0.3),
            sine(1300, 0.5),
            silence(0.3),
        ]
    )
    assert [(end - start) / RATE for start, end in tone_segments(signal, RATE)] == [
        pytest.approx(1.05, abs=0.05),
        pytest.approx(0.5, abs=0.05),
    ]
    assert [nearest_tone(f) for f in tone_sequence(signal, RATE)] == [500, 1300]
    assert len(tone_sequence(signal, RATE, min_gap_seconds=0.04)) == 3
    assert [nearest_tone(f) for f in tone_sequence(signal, RATE, min_tone_seconds=0.05)] == [500, 900, 1300]
    assert len(tone_sequence(signal, RATE, min_gap_seconds=0.04, min_tone_seconds=0.05)) == 4
    assert tone_sequence(silence(1.0), RATE) == []
    assert tone_sequence(np.zeros(0), RATE) == []


def test_nearest_tone_snaps_to_the_grid() -> None:
    assert nearest_tone(741.9) == 740
    assert nearest_tone(749.9) == 740 and nearest_tone(750.1) == 760
    assert nearest_tone(100) == 300 and nearest_tone(5000) == 1880


def test_concatenated_tone_parts_keep_their_order() -> None:
    texts = ["First part.", "Second, a longer part of the book.", "Third.", "Fourth and last."]
    parts = [encode_pcm16(tone_pcm(text, sample_rate=RATE), sample_rate=RATE, fmt="wav") for text in texts]
    for fmt in ("mp3", "opus"):
        book = concatenate(parts, fmt=fmt, pause_seconds=0.3)
        assert decoded_tones(book) == [tone_frequency(text) for text in texts], fmt
