"""What Fish's speech-to-text heard in one take, as a value a caller can store, and the checks made before asking.

Fish takes 1 s to 60 min of audio, at most 20 MB a file, and bills each request per second of audio, rounded up.
Its answer's time unit is ambiguous (the SDK says milliseconds, the API docs seconds), so nothing here trusts the
answer's `duration`: billing uses the length the caller measured, and the word times are read against it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from worker.errors import CannotHear

MIN_SECONDS = 1.0
MAX_SECONDS = 60 * 60.0
MAX_BYTES = 20_000_000  # Fish's "20 MB", read the smaller way: a file near the line is refused here, not paid there

# A time this far past the audio's end is not a time in seconds (a little slack for how each side measures).
_SLACK_SECONDS = 0.25
_SLACK_RATIO = 1.05

Word = tuple[str, float, float]  # what was heard, and when: start and end in seconds from the take's start


@dataclass(frozen=True)
class Heard:
    """One take heard by Fish: the transcript, its words in order with their times, and what it cost."""

    text: str
    words: tuple[Word, ...]
    audio_seconds: float  # the take's length as the caller measured it
    seconds_billed: int
    latency_seconds: float

    def to_json(self) -> dict[str, Any]:
        """Fish's answer shape with times in seconds (`text`, `duration`, `segments`), and the request's cost and
        latency."""
        return {
            "text": self.text,
            "duration": self.audio_seconds,
            "segments": [{"text": text, "start": start, "end": end} for text, start, end in self.words],
            "seconds_billed": self.seconds_billed,
            "latency_seconds": self.latency_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Heard:
        return cls(
            text=str(data["text"]),
            words=tuple((str(s["text"]), float(s["start"]), float(s["end"])) for s in data["segments"]),
            audio_seconds=float(data["duration"]),
            seconds_billed=int(data["seconds_billed"]),
            latency_seconds=float(data["latency_seconds"]),
        )


def check_hearable(audio: bytes, *, audio_seconds: float) -> None:
    """Raise CannotHear for audio Fish's speech-to-text does not take, before any request (nothing paid, no slot)."""
    if audio_seconds < MIN_SECONDS:
        raise CannotHear(
            f"cannot hear {audio_seconds:.2f} s of audio: Fish's speech-to-text takes at least {MIN_SECONDS:g} s"
        )
    if audio_seconds > MAX_SECONDS:
        raise CannotHear(
            f"cannot hear {audio_seconds / 60:.1f} min of audio: Fish's speech-to-text takes at most"
            f" {MAX_SECONDS / 60:g} min a file"
        )
    if len(audio) > MAX_BYTES:
        raise CannotHear(f"cannot hear {len(audio):,} bytes of audio: Fish's speech-to-text takes at most 20 MB a file")


def seconds_billed(audio_seconds: float) -> int:
    """Fish bills speech-to-text per second of audio, rounded up (to the millisecond first: 2.0000001 s is 2 s)."""
    return math.ceil(round(audio_seconds, 3))


def in_seconds(segments: Iterable[Word], *, audio_seconds: float) -> tuple[Word, ...]:
    """The answer's word times in seconds, inside the audio.

    Times that only fit the audio as milliseconds (every one of them, by the latest end) are scaled; times that
    fit neither reading are kept in the audio (clamped): the words still count, their places are approximate.
    """
    words = [(text.strip(), float(start), float(end)) for text, start, end in segments if text.strip()]
    limit = audio_seconds * _SLACK_RATIO + _SLACK_SECONDS
    latest = max((max(start, end) for _, start, end in words), default=0.0)
    scale = 1000.0 if latest > limit and latest / 1000.0 <= limit else 1.0
    return tuple(
        (text, _within(start / scale, audio_seconds), _within(end / scale, audio_seconds)) for text, start, end in words
    )


def _within(seconds: float, audio_seconds: float) -> float:
    return min(max(seconds, 0.0), audio_seconds)
