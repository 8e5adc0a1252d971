"""Benchmark mode: every TTS request is answered with one clip, encoded once per format and rate.

Synthesis and encoding cost the emulator tens of milliseconds of CPU per
request; on a small machine that, not the client being measured, would bound
a throughput benchmark. Requests are still parsed, checked and counted.
"""

from __future__ import annotations

from functools import lru_cache

from producer.dev.emulator import speech
from worker.audio.codec import encode_pcm16, resample_pcm16

CANNED_TEXT = "Every request in benchmark mode is answered with this same sentence."


@lru_cache(maxsize=32)
def canned_audio(fmt: str, sample_rate: int | None) -> bytes:
    pcm, rate = speech.synthesize(CANNED_TEXT)
    if sample_rate is not None and fmt != "opus":  # opus is always encoded at 48 kHz
        pcm, rate = resample_pcm16(pcm, from_rate=rate, to_rate=sample_rate), sample_rate
    return encode_pcm16(pcm, sample_rate=rate, fmt=fmt)
