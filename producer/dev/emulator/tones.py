"""Tone mode: each TTS request answers a pure sine whose frequency identifies its text.

An assembled audiobook can then be decoded back into the sequence of texts it
was made from (see tests/support/tones.py): 80 frequencies on a 20 Hz grid from 300 Hz
to 1880 Hz, picked from the text's SHA-256.
"""

from __future__ import annotations

import hashlib

import numpy as np

BASE_HZ = 300.0
STEP_HZ = 20.0
STEPS = 80  # frequencies BASE_HZ, BASE_HZ + STEP_HZ, ..., BASE_HZ + (STEPS - 1) * STEP_HZ
SAMPLE_RATE = 22_050  # used when a request asks for no sample rate (espeak-ng's own rate)
AMPLITUDE = 0.3
FADE_SECONDS = 0.01
MIN_SECONDS, MAX_SECONDS, SECONDS_PER_CHAR = 0.6, 4.0, 0.04

__all__ = ["BASE_HZ", "SAMPLE_RATE", "STEPS", "STEP_HZ", "tone_duration", "tone_frequency", "tone_pcm"]


def tone_frequency(text: str) -> float:
    """The tone (Hz) that stands for `text`: deterministic, on the 20 Hz grid."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return BASE_HZ + STEP_HZ * (int(digest[:8], 16) % STEPS)


def tone_duration(text: str) -> float:
    """Seconds of tone for `text`: 40 ms a character, between 0.6 s and 4 s."""
    return max(MIN_SECONDS, min(MAX_SECONDS, SECONDS_PER_CHAR * len(text)))


def tone_pcm(text: str, *, sample_rate: int) -> bytes:
    """Mono s16le PCM: a sine at tone_frequency(text), amplitude 0.3, 10 ms linear fades, no silence."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, not {sample_rate}")
    count = max(1, round(tone_duration(text) * sample_rate))
    t = np.arange(count, dtype=np.float64) / sample_rate
    wave = AMPLITUDE * np.sin(2 * np.pi * tone_frequency(text) * t)
    fade = min(max(1, round(FADE_SECONDS * sample_rate)), count // 2)
    if fade > 0:
        ramp = np.arange(1, fade + 1, dtype=np.float64) / fade  # never exactly 0: no silent samples
        wave[:fade] *= ramp
        wave[count - fade :] *= ramp[::-1]
    return np.round(wave * 32767).astype("<i2").tobytes()
