"""One take read through its alignment: what became of each token, and how to quote and time a stretch of it.

The checks (checks.py) ask questions of this: was text token i heard, replaced or missing; which heard tokens
were added; what does the text say from token a to b, what was heard there, and when in the take.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.hearing.align import Step
from worker.hearing.words import Heard, Written


@dataclass(frozen=True)
class Finding:
    """One fault: its kind, the text it concerns, what was heard there, and where in the take (seconds)."""

    kind: str  # "dropped", "repeated", "garbled", "cut", "inserted" or "pace"
    text: str
    heard: str
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class Candidate:
    """A finding with the tokens it covers on each side, so that two checks reporting one fault report it once."""

    finding: Finding
    text: tuple[int, int]
    heard: tuple[int, int] = (0, 0)

    def meets(self, other: Candidate) -> bool:
        """Whether the two cover some of the same tokens (of the text or of the transcript)."""
        return any(min(a[1], b[1]) > max(a[0], b[0]) for a, b in ((self.text, other.text), (self.heard, other.heard)))


class Take:
    """A take's alignment read token by token: each text token's state and heard tokens, each heard token added."""

    def __init__(self, written: Written, heard: Heard, steps: list[Step], *, seconds: float) -> None:
        self.written, self.heard, self.steps, self.seconds = written, heard, steps, seconds
        n, m = len(written.tokens), len(heard.tokens)
        self.state = [""] * n  # "equal", "substituted" or "missing"
        self.heard_of = [(0, 0)] * n  # the heard tokens of each text token's step
        self.inserted = [False] * m
        for step in steps:
            one_to_one = step.text_end - step.text_start == step.heard_end - step.heard_start
            for i in range(step.text_start, step.text_end):
                self.state[i] = step.kind
                at = step.heard_start + i - step.text_start
                self.heard_of[i] = (at, at + 1) if one_to_one else (step.heard_start, step.heard_end)
            if step.kind == "inserted":
                for j in range(step.heard_start, step.heard_end):
                    self.inserted[j] = True

    def words_heard(self) -> list[bool | None]:
        """For each word of the text: heard (most of its tokens), not heard, or None when it has no tokens."""
        equal = [0] * len(self.written.words)
        total = [0] * len(self.written.words)
        for i, word in enumerate(self.written.origin):
            total[word] += 1
            equal[word] += self.state[i] == "equal"
        return [None if not t else 2 * e >= t for e, t in zip(equal, total)]

    def count(self, kind: str) -> int:
        if kind == "inserted":
            return sum(self.inserted)
        return sum(1 for s in self.state if s == kind)

    def text_quote(self, start: int, end: int) -> str:
        """The text of tokens [start, end) as written (whole words)."""
        if end <= start:
            return ""
        return self.written.quote(self.written.origin[start], self.written.origin[end - 1])

    def heard_quote(self, start: int, end: int) -> str:
        if end <= start:
            return ""
        return self.heard.quote(self.heard.origin[start], self.heard.origin[end - 1])

    def heard_span(self, text_start: int, text_end: int) -> tuple[int, int]:
        """The heard tokens aligned with text tokens [text_start, text_end): where they would be if missing."""
        first, last = self.heard_of[text_start], self.heard_of[text_end - 1]
        return first[0], max(last[1], first[0])

    def times(self, heard_start: int, heard_end: int) -> tuple[float | None, float | None]:
        """When heard tokens [heard_start, heard_end) were said; for none, the silence where they belong."""
        origin, times = self.heard.origin, self.heard.times
        if heard_end > heard_start:
            first, last = times[origin[heard_start]], times[origin[heard_end - 1]]
            return (first[0] if first else None), (last[1] if last else None)
        before = times[origin[heard_start - 1]] if heard_start > 0 else (0.0, 0.0)
        after = times[origin[heard_start]] if heard_start < len(origin) else (self.seconds, self.seconds)
        return (before[1] if before else None), (after[0] if after else None)

    def finding(self, kind: str, text_start: int, text_end: int, heard: tuple[int, int] | None = None) -> Candidate:
        """A finding about text tokens [text_start, text_end), heard as `heard` (default: what aligned with them)."""
        if heard is None:
            heard = self.heard_span(text_start, text_end) if text_end > text_start else (0, 0)
        start, end = self.times(*heard)
        found = Finding(kind, self.text_quote(text_start, text_end), self.heard_quote(*heard), start, end)
        return Candidate(found, (text_start, text_end), heard)
