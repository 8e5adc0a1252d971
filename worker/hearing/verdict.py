"""Whether a take says its text: the verdict (pass or fail), its findings, its measures and a score.

`judge(text, transcript, language=...)` normalizes both sides (words.py), aligns them (align.py) and runs every
check (checks.py); a take passes when no check finds a fault. The score (1.0: every word heard, nothing added)
ranks several takes of one chunk: `max(verdicts, key=Verdict.rank)` keeps the best, a passing one first.
The JSON form is a plain dict for manifests and status, and reads back to the same verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from worker.hearing import checks
from worker.hearing.align import align
from worker.hearing.take import Candidate, Finding, Take
from worker.hearing.thresholds import Thresholds
from worker.hearing.transcript import Transcript
from worker.hearing.words import heard, written

# The order in which one fault reported by several checks keeps its name: a cut ending is not also a dropped
# sentence, a repeat not also an insertion, a dropped sentence not also a garbled name.
_CHECKS = (
    checks.ending,
    checks.repeats,
    checks.sentences,
    checks.stretches,
    checks.names,
    checks.strangers,
    checks.totals,
    checks.pace,
)


@dataclass(frozen=True)
class Measures:
    """What the comparison counted, in compared tokens."""

    words: int  # the text's
    heard: int  # the transcript's
    missing: int
    substituted: int
    inserted: int
    error_rate: float  # (missing + substituted + inserted) / words
    longest_run: int  # the longest stretch of divergent tokens
    seconds_per_letter: float  # the take's length (less long silences) over the text's letters; 0: unknown


@dataclass(frozen=True)
class Verdict:
    passed: bool
    score: float
    findings: tuple[Finding, ...]
    measures: Measures

    def rank(self) -> tuple[bool, float]:
        """A sort key: passing takes first, then the higher score."""
        return self.passed, self.score

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": "pass" if self.passed else "fail",
            "score": self.score,
            "findings": [asdict(f) for f in self.findings],
            "measures": asdict(self.measures),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(
            passed=data["verdict"] == "pass",
            score=float(data["score"]),
            findings=tuple(Finding(**f) for f in data["findings"]),
            measures=Measures(**data["measures"]),
        )


DEFAULTS = Thresholds()


def judge(
    text: str,
    transcript: Transcript,
    *,
    language: str = "",
    lexicon: Sequence[tuple[str, str]] = (),
    limits: Thresholds = DEFAULTS,
) -> Verdict:
    """The verdict on one take: `text` is what the voice was given (after the lexicons), `transcript` what the
    recognizer heard, `language` the book's (a tag such as "en", "fr-FR"; "" keeps digits as digits), `lexicon`
    the replacements made in the text, (the word, what the voice was given instead): the word is what is heard."""
    said, got = written(text, language, lexicon=lexicon), heard(transcript, language)
    take = Take(said, got, align(said.tokens, got.tokens, near=limits.near), seconds=transcript.seconds)
    kept: list[Candidate] = []
    for check in _CHECKS:
        for candidate in check(take, limits):
            if not any(candidate.meets(k) for k in kept):
                kept.append(candidate)
    measures = _measures(take, limits)
    return Verdict(not kept, _score(measures), tuple(_rounded(c.finding) for c in _joined(take, kept)), measures)


def _joined(take: Take, kept: list[Candidate]) -> list[Candidate]:
    """The findings in the order of the text; passages dropped or garbled one after the other as one."""
    out: list[Candidate] = []
    for found in sorted(kept, key=lambda c: (c.text, c.heard)):
        last = out[-1] if out else None
        kind = found.finding.kind
        if last and kind == last.finding.kind and kind in ("dropped", "garbled") and found.text[0] == last.text[1]:
            heard = (min(last.heard[0], found.heard[0]), max(last.heard[1], found.heard[1]))
            out[-1] = take.finding(kind, last.text[0], found.text[1], heard=heard)
        else:
            out.append(found)
    return out


def _measures(take: Take, limits: Thresholds) -> Measures:
    n = len(take.state)
    missing, substituted, inserted = take.count("missing"), take.count("substituted"), take.count("inserted")
    return Measures(
        words=n,
        heard=len(take.heard.tokens),
        missing=missing,
        substituted=substituted,
        inserted=inserted,
        error_rate=round((missing + substituted + inserted) / n, 4) if n else float(inserted > 0),
        longest_run=checks.longest_run(take),
        seconds_per_letter=round(checks.seconds_per_letter(take, limits), 4),
    )


def _score(m: Measures) -> float:
    """The share of the text heard, less the words added: 1.0 for a perfect take, 0 at worst."""
    if not m.words:
        return 0.0 if m.inserted else 1.0
    return round(max(0.0, min(1.0, (m.words - m.missing - m.substituted - m.inserted) / m.words)), 4)


def _rounded(finding: Finding) -> Finding:
    """Times to the millisecond: a person looks them up in a chapter file, and JSON reads them back the same."""

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return Finding(finding.kind, finding.text, finding.heard, ms(finding.start), ms(finding.end))
