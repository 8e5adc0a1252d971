"""What the recognizer heard in one take: Fish's speech-to-text answer as a value.

Fish answers `text`, `duration` and word-sized `segments[{text, start, end}]`. Times here are seconds: the
caller that asks Fish turns its answer's units into seconds before building one (the SDK and the API disagree).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Segment:
    """One word-sized piece of the transcript and when it was said, in seconds from the take's start."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    text: str
    duration: float  # the take's length in seconds; 0 when unknown (the last segment's end is then used)
    segments: tuple[Segment, ...] = ()

    @property
    def seconds(self) -> float:
        return self.duration or (self.segments[-1].end if self.segments else 0.0)

    @classmethod
    def from_json(cls, answer: Mapping[str, Any]) -> Transcript:
        """From the answer's shape: {"text", "duration", "segments": [{"text", "start", "end"}]}."""
        segments = tuple(
            Segment(str(s.get("text", "")), float(s.get("start", 0.0)), float(s.get("end", 0.0)))
            for s in answer.get("segments") or ()
        )
        return cls(str(answer.get("text", "")), float(answer.get("duration") or 0.0), segments)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "duration": self.duration,
            "segments": [{"text": s.text, "start": s.start, "end": s.end} for s in self.segments],
        }
