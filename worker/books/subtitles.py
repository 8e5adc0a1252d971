"""Subtitles: SRT and WebVTT from (start, end, text) cues, one sentence a cue.

A sentence too long for the screen is split, at a clause where it can be, into cues of at most two lines of
42 characters (the common broadcast rule), each timed by its share of the sentence's characters.
"""

from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

LINE = 42  # characters a line
LINES = 2  # lines a cue
_CLAUSE_END = re.compile(r"(?<=[,;:—–])\s+")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


def _stamp(seconds: float, *, separator: str) -> str:
    millis = int(round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def to_srt(cues: list[Cue]) -> str:
    blocks = [
        f"{n}\n{_stamp(c.start, separator=',')} --> {_stamp(c.end, separator=',')}\n{c.text}\n"
        for n, c in enumerate(cues, start=1)
    ]
    return "\n".join(blocks)


def to_vtt(cues: list[Cue]) -> str:
    blocks = [f"{_stamp(c.start, separator='.')} --> {_stamp(c.end, separator='.')}\n{c.text}\n" for c in cues]
    return "WEBVTT\n\n" + "\n".join(blocks)


def sentence_cues(text: str, start: float, end: float) -> list[Cue]:
    """`text`, said from `start` to `end`, as cues of at most LINES lines of LINE characters."""
    pieces = _packed(_CLAUSE_END.split(" ".join(text.split())))
    total = sum(len(piece) for piece in pieces) or 1
    cues, at = [], start
    for piece in pieces:
        until = at + (end - start) * len(piece) / total
        cues.append(Cue(start=at, end=until, text="\n".join(_lines(piece))))
        at = until
    return cues


def _lines(text: str) -> list[str]:
    return textwrap.wrap(text, width=LINE, break_long_words=True, break_on_hyphens=False) or [""]


def _fits(text: str) -> bool:
    return len(_lines(text)) <= LINES


def _packed(clauses: list[str]) -> list[str]:
    """Clauses joined while the cue still fits; a clause too long alone is cut between words."""
    out: list[str] = []
    for clause in clauses:
        for piece in [clause] if _fits(clause) else _cut(clause):
            if out and _fits(f"{out[-1]} {piece}"):
                out[-1] = f"{out[-1]} {piece}"
            else:
                out.append(piece)
    return out


def _cut(clause: str) -> list[str]:
    lines = _lines(clause)
    return [" ".join(lines[i : i + LINES]) for i in range(0, len(lines), LINES)]
