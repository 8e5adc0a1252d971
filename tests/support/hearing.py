"""Transcripts as a recognizer gives them, for tests and benchmarks of proof-listening: word segments with times.

transcript = timed("she opened the door".split())
transcript = timed(words, silence_after={3: 5.0})   # five seconds of silence after the fourth word
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from worker.hearing import Segment, Transcript

LEAD = 0.35  # seconds before the first word
WORD = 0.08  # seconds every word takes, plus PER_LETTER for each letter or digit
PER_LETTER = 0.065  # a narrator's pace: about 0.08 s a letter with the gaps
GAP = 0.1  # between words
STOP = 0.45  # after a word that ends a sentence
TAIL = 0.4  # after the last word


def timed(
    words: Sequence[str], *, per_letter: float = PER_LETTER, silence_after: Mapping[int, float] | None = None
) -> Transcript:
    """`words` as word segments at a narrator's pace (or `per_letter` seconds a letter), one after the other."""
    segments, at = [], LEAD
    for index, word in enumerate(words):
        length = WORD + per_letter * sum(c.isalnum() for c in word)
        segments.append(Segment(word, round(at, 3), round(at + length, 3)))
        at += length + (STOP if word[-1:] in ".!?" else GAP) + (silence_after or {}).get(index, 0.0)
    return Transcript(" ".join(words), round(at + TAIL, 3), tuple(segments))
