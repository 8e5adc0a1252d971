"""Benchmark mode: every TTS request is answered with one clip, encoded once per format and rate.

Synthesis and encoding cost the emulator tens of milliseconds of CPU per
request; on a small machine that, not the client being measured, would bound
a throughput benchmark. Requests are still parsed, checked and counted. In a
lossless format (wav, pcm) the clip carries the request's words (takes.py), so
hearing it back hears the text it stands in for.
"""

from __future__ import annotations

from functools import lru_cache

from producer.dev.emulator import speech
from worker.audio.codec import encode_pcm16, resample_pcm16

CANNED_TEXT = "Every request in benchmark mode is answered with this same sentence."


@lru_cache(maxsize=32)
def canned_audio(fmt: str, sample_rate: int | None) -> bytes:
    """The clip encoded as `fmt`: what a clean take in a lossy format answers (its LSBs could carry no words)."""
    pcm, rate = canned_pcm(sample_rate if fmt != "opus" else None)  # opus is always encoded at 48 kHz
    return encode_pcm16(pcm, sample_rate=rate, fmt=fmt)


@lru_cache(maxsize=16)
def canned_pcm(sample_rate: int | None) -> tuple[bytes, int]:
    """The clip as mono s16le PCM, at `sample_rate` when one is given: takes.steady_take writes a request's words in."""
    pcm, rate = speech.synthesize(CANNED_TEXT)
    if sample_rate is not None:
        pcm, rate = resample_pcm16(pcm, from_rate=rate, to_rate=sample_rate), sample_rate
    return pcm, rate
