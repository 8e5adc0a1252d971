"""Proof-listening: whether a take says its text, judged word by word on separate findings. Pure logic, no I/O.

`judge(text, Transcript.from_json(answer), language=..., lexicon=...)` compares the text a voice was given (and
the lexicon's replacements in it) with what the recognizer heard in the take, and returns a `Verdict`: passed
or not, a score to keep the best of several takes, its findings (dropped, repeated, garbled, cut, inserted,
pace: each with the text, what was heard and when) and its JSON form. `Thresholds` holds every limit, with the
defaults and why.
"""

from worker.hearing.take import Finding
from worker.hearing.thresholds import Thresholds
from worker.hearing.transcript import Segment, Transcript
from worker.hearing.verdict import DEFAULTS, Measures, Verdict, judge

__all__ = ["DEFAULTS", "Finding", "Measures", "Segment", "Thresholds", "Transcript", "Verdict", "judge"]
