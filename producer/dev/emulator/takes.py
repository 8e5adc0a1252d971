"""A take's audio: the PCM the emulator says for one TTS request, each spoken word's frame written in at its place.

Speech places words where espeak-ng says they start; a tone or the canned clip, which have no words of their own,
carry them spread over their length in proportion to the words' characters. A cut take stops where its first
unsaid word would start, so it carries only the words before.
"""

from __future__ import annotations

import re

from producer.dev.emulator import frames, speech
from producer.dev.emulator.faults import Take
from worker.audio.codec import resample_pcm16

Placed = list[tuple[str, int]]  # (word, sample it starts at)


def speech_take(take: Take, *, voice_seed: bytes | None, speed: float, sample_rate: int | None) -> tuple[bytes, int]:
    """espeak-ng speaking the take, resampled to `sample_rate` when one is given; (PCM with frames, rate)."""
    pcm, rate, starts = speech.synthesize_timed(take.spoken, voice_seed=voice_seed, speed=speed)
    if sample_rate is not None:
        scale = sample_rate / rate
        pcm, rate = resample_pcm16(pcm, from_rate=rate, to_rate=sample_rate), sample_rate
        starts = tuple((char, round(sample * scale)) for char, sample in starts)
    return _with_words(take, pcm, _placed(take.spoken, starts, len(pcm) // 2)), rate


def steady_take(take: Take, pcm: bytes) -> bytes:
    """A tone or clip (mono s16le) carrying the take's words, spread in proportion to their characters."""
    return _with_words(take, pcm, _spread(take.spoken, len(pcm) // 2))


def _words(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"\S+", text))


def _spread(text: str, total: int) -> Placed:
    return [(m.group(), total * m.start() // max(1, len(text))) for m in _words(text)]


def _placed(text: str, starts: speech.WordStarts, total: int) -> Placed:
    """Each whitespace-separated word at the first word start espeak-ng reported inside it (else the previous's)."""
    if not starts:
        return _spread(text, total)
    placed: Placed = []
    index, previous = 0, 0
    for word in _words(text):
        while index < len(starts) and starts[index][0] < word.start():
            index += 1
        if index < len(starts) and starts[index][0] < word.end():
            previous = starts[index][1]
        placed.append((word.group(), previous))
    return placed


def _with_words(take: Take, pcm: bytes, words: Placed) -> bytes:
    if take.cut_at is not None and take.cut_at < len(words):
        end = max(1, words[take.cut_at][1])
        pcm, words = pcm[: 2 * end], words[: take.cut_at]
    return frames.write_words(pcm, words)
