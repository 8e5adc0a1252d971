"""When each stretch of a take's text was said: the recognizer's word times, through the alignment the judge uses.

A word of the text heard (the same or a near word) takes the times of the heard words aligned with it. A word the
recognizer did not place (missing, garbled beyond the near match, or a transcript without times) is placed between
its placed neighbours in proportion to its letters, and marked so. Read-along clips and sentence subtitles are
made of these times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from worker.hearing.align import align
from worker.hearing.take import Take
from worker.hearing.thresholds import Thresholds
from worker.hearing.transcript import Transcript
from worker.hearing.words import Written, heard, written

_DEFAULTS = Thresholds()


@dataclass(frozen=True)
class Timed:
    """A stretch of the take, in seconds from its start; `placed` False: interpolated, not heard there."""

    start: float
    end: float
    placed: bool


def span_times(
    text: str,
    transcript: Transcript | None,
    spans: Sequence[tuple[int, int]],
    *,
    seconds: float,
    language: str = "",
    lexicon: Sequence[tuple[str, str]] = (),
) -> list[Timed]:
    """The times of each character span [start, end) of `text`, in a take `seconds` long.

    `transcript` None (the take was not heard): every span is interpolated over the take by its letters.
    A span is placed when the recognizer placed its first and last words.
    """
    said = written(text, language, lexicon=lexicon)
    words = _word_times(said, transcript, language=language, seconds=seconds)
    out: list[Timed] = []
    for start, end in spans:
        inside = [i for i, (a, b) in enumerate(said.spans) if a < end and b > start]
        if not inside:
            at = out[-1].end if out else 0.0
            out.append(Timed(at, at, False))
            continue
        first, last = words[inside[0]], words[inside[-1]]
        out.append(Timed(first.start, max(first.start, last.end), first.placed and last.placed))
    return out


def _word_times(said: Written, transcript: Transcript | None, *, language: str, seconds: float) -> list[Timed]:
    known: list[tuple[float, float] | None] = [None] * len(said.words)
    if transcript is not None and transcript.segments:
        got = heard(transcript, language)
        take = Take(said, got, align(said.tokens, got.tokens, near=_DEFAULTS.near), seconds=seconds)
        for token, word in enumerate(said.origin):
            if take.state[token] == "missing":
                continue
            first, stop = take.heard_of[token]
            times = [got.times[got.origin[j]] for j in range(first, stop)]
            placed = [t for t in times if t is not None]
            if not placed:
                continue
            begin, end = min(t[0] for t in placed), max(t[1] for t in placed)
            held = known[word]
            known[word] = (begin, end) if held is None else (min(held[0], begin), max(held[1], end))
    return _interpolated(said, known, seconds=seconds)


def _interpolated(said: Written, known: list[tuple[float, float] | None], *, seconds: float) -> list[Timed]:
    """Known times kept in order (never before the word before); the rest spread over the gaps by letters."""
    out: list[Timed | None] = [None] * len(known)
    floor = 0.0
    for i, times in enumerate(known):
        if times is not None and times[0] >= floor:
            out[i] = Timed(times[0], max(times[0], min(times[1], seconds or times[1])), True)
            floor = out[i].end  # type: ignore[union-attr]
    index = 0
    while index < len(out):
        if out[index] is not None:
            index += 1
            continue
        stop = index
        while stop < len(out) and out[stop] is None:
            stop += 1
        low = out[index - 1].end if index else 0.0  # type: ignore[union-attr]
        high = out[stop].start if stop < len(out) else max(seconds, low)  # type: ignore[union-attr]
        letters = [max(1, len(said.words[i])) for i in range(index, stop)]
        step, at = (high - low) / sum(letters), low
        for offset, count in enumerate(letters):
            out[index + offset] = Timed(at, at + step * count, False)
            at += step * count
        index = stop
    return [t for t in out if t is not None]
