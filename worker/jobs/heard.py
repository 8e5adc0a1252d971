"""A single job's proof-listening: how its chunks are heard, and the report its manifest carries.

The job's chunks are taken through worker.takes like a book's; their summaries and lengths are kept as they
come, and the report places each chunk left failing in the job's audio file (chunks joined with a pause).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from worker.contract import RenderJob
from worker.hearing import Thresholds
from worker.takes.listen import Listening, replacements
from worker.takes.summary import failing_chunk, totals
from worker.text.lexicon import Lexicon


@dataclass
class Hearing:
    """How the job's chunks are judged, and what each came to: chunk index -> takes summary, seconds long."""

    listening: Listening
    summaries: dict[int, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[int, float] = field(default_factory=dict)

    @classmethod
    def of(cls, job: RenderJob, *, lexicon: Lexicon, words: list[list[str]], limits: Thresholds) -> Hearing | None:
        """None when the job is not heard; else what its chunks share (`words`: each chunk's lexicon entries, whose
        replacements the judge allows)."""
        if job.qc is None or job.qc.mode == "off":
            return None
        pairs = replacements(lexicon, sorted({w for chunk in words for w in chunk}))
        return cls(Listening(job.qc, language=job.qc.language, lexicon=pairs, limits=limits))

    def report(self, texts: list[str], *, pause_seconds: float) -> dict[str, Any]:
        """Totals and each chunk left failing, with its seconds in the job's audio file."""
        ordered = [self.summaries.get(index) for index in range(len(texts))]
        failing, start = [], 0.0
        for index, (text, summary) in enumerate(zip(texts, ordered)):
            end = start + self.seconds.get(index, 0.0)
            if summary is not None and summary["verdict"] == "fail":
                failing.append(failing_chunk(summary, chunk=index + 1, text=text, start=start, end=end))
            start = end + pause_seconds
        return {"mode": self.listening.qc.mode, **totals(ordered), "failing": failing}
