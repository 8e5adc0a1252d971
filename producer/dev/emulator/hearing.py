"""What the emulator's speech-to-text hears in a file: the words whose frames (frames.py) its samples carry.

Only a WAV of 16-bit samples can carry them; any other file the emulator can decode (mp3, opus: lossy codecs
rewrite the least significant bits) is measured and heard as silence. A little recognition noise, seeded from the
audio's hash so that the same audio is always heard the same way, replaces a heard word with a plausible mishearing.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import string
import wave
from dataclasses import dataclass

import numpy as np

from producer.dev.emulator import frames
from producer.dev.emulator.models import InvalidInput
from worker.audio.codec import probe
from worker.errors import AudioError

PAUSE_SECONDS = 1.5  # a word's segment ends where its sound does (before the next word), at most this long after
_VOICED = 0.02  # of the file's peak: quieter samples after a word are the pause after it, not the word
_HOMOPHONES = {
    "there": "their",
    "their": "there",
    "to": "too",
    "too": "to",
    "two": "to",
    "four": "for",
    "for": "four",
    "here": "hear",
    "hear": "here",
    "know": "no",
    "no": "know",
    "new": "knew",
    "knew": "new",
    "right": "write",
    "write": "right",
    "sea": "see",
    "see": "sea",
    "one": "won",
    "won": "one",
    "by": "buy",
    "its": "it's",
    "it's": "its",
    "where": "wear",
    "through": "threw",
    "red": "read",
    "whole": "hole",
}


@dataclass(frozen=True)
class Heard:
    """The transcript of one file: its words with their start times, and the audio's length (seconds)."""

    words: list[tuple[str, float]]
    duration: float
    ends: tuple[float, ...] = ()  # where each word's sound ends (seconds); none: at the next word's start

    @property
    def text(self) -> str:
        return " ".join(word for word, _ in self.words)

    def segments(self) -> list[dict[str, object]]:
        """One segment a word: from its start to where its sound ends (or the next word's start, or the audio's end)."""
        ends = list(self.ends) or [start for _, start in self.words[1:]] + [self.duration]
        return [
            {"text": word, "start": round(start, 3), "end": round(min(end, start + PAUSE_SECONDS, self.duration), 3)}
            for (word, start), end in zip(self.words, ends, strict=False)  # no words: no segments
        ]


def hear(audio: bytes, *, noise: float) -> Heard:
    """The words `audio` carries, each misheard with probability `noise`; 400 when it is not audio at all."""
    decoded = _wav_samples(audio)
    if decoded is None:
        try:
            return Heard(words=[], duration=probe(audio).duration_seconds)
        except AudioError as exc:
            raise InvalidInput(f"audio is not decodable: {exc}") from exc
    samples, rate = decoded
    rng = random.Random(hashlib.sha256(audio).digest())
    found = frames.read_words(samples)
    words = [
        (mishear(word.text, rng) if noise > 0 and rng.random() < noise else word.text, word.sample / rate)
        for word in found
    ]
    return Heard(words=words, duration=len(samples) / rate, ends=_voiced_ends(samples, [w.sample for w in found], rate))


def _voiced_ends(samples: np.ndarray, starts: list[int], rate: int) -> tuple[float, ...]:
    """Where each word's sound ends: its last sample above _VOICED of the peak before the next word starts."""
    if not starts:
        return ()
    loudest = np.abs(samples.astype(np.int32))
    floor = _VOICED * max(1, int(loudest.max()))
    ends = []
    for start, stop in zip(starts, [*starts[1:], samples.size], strict=True):
        loud = np.flatnonzero(loudest[start:stop] > floor)
        ends.append((start + (int(loud[-1]) + 1 if loud.size else 1)) / rate)
    return tuple(ends)


def _wav_samples(audio: bytes) -> tuple[np.ndarray, int] | None:
    """The first channel's samples and the rate of a 16-bit PCM WAV; None for anything else."""
    try:
        with wave.open(io.BytesIO(audio)) as reader:
            channels, width, rate = reader.getnchannels(), reader.getsampwidth(), reader.getframerate()
            data = reader.readframes(reader.getnframes())
    except (wave.Error, EOFError):
        return None
    if width != 2 or rate <= 0:
        return None
    return np.frombuffer(data[: len(data) - len(data) % (2 * channels)], dtype="<i2")[::channels], rate


def mishear(word: str, rng: random.Random) -> str:
    """A plausible mishearing of `word`: a homophone, else one letter changed or dropped, one digit of a figure
    changed (punctuation kept)."""
    match = re.match(r"^(\W*)(.*?)(\W*)$", word)
    assert match is not None  # the pattern matches any string
    lead, core, tail = match.groups()
    if not core:
        return word
    swap = _HOMOPHONES.get(core.lower())
    if any(c.isdigit() for c in core):  # a figure is heard as a figure: one digit misheard
        at = rng.choice([k for k, c in enumerate(core) if c.isdigit()])
        heard = core[:at] + rng.choice([d for d in string.digits if d != core[at]]) + core[at + 1 :]
    elif swap is not None:
        heard = swap.capitalize() if core[0].isupper() else swap
    else:
        at = rng.randrange(len(core))
        if len(core) >= 4 and rng.random() < 0.5:
            heard = core[:at] + core[at + 1 :]
        else:
            letter = rng.choice([c for c in string.ascii_lowercase if c != core[at].lower()])
            heard = core[:at] + letter + core[at + 1 :]
    return lead + heard + tail
