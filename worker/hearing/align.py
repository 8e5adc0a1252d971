"""The text's tokens and the heard tokens aligned: which were heard, which replaced, which missing, which added.

rapidfuzz aligns the two token lists exactly (Levenshtein on token ids: linear memory, microseconds for a
chunk). Where it finds a difference, a small second pass settles it word by word with tolerance: a word a
letter or two off ("colour" and "color", a plural misheard) is heard, and so is a word written apart or
together ("well known" and "well-known", "e-mail" and "email", "ice cream" and "I scream").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from rapidfuzz.distance import Indel, Levenshtein

Kind = Literal["equal", "substituted", "missing", "inserted"]
_MERGES = ((1, 2), (2, 1), (1, 3), (3, 1), (2, 2))  # words written apart on one side, together on the other
# A word missing, added or replaced costs _ERROR; merging words costs a little more the more words it takes, so
# that "an e mail" / "a email" pairs "an" with "a" rather than taking "an" into "email".
_ERROR = 10
_LARGEST = 900  # text x heard tokens settled word by word; a larger difference is garbage whichever way it is paired


@dataclass(frozen=True)
class Step:
    """A stretch of the alignment: text tokens [text_start, text_end) and heard tokens [heard_start, heard_end)."""

    kind: Kind
    text_start: int
    text_end: int
    heard_start: int
    heard_end: int


def align(text: Sequence[str], heard: Sequence[str], *, near: float) -> list[Step]:
    """The alignment of `text` and `heard`, in order; `near` is the similarity (0-1) at which a word is heard."""
    ids: dict[str, int] = {}
    text_ids = [ids.setdefault(t, len(ids)) for t in text]
    heard_ids = [ids.setdefault(t, len(ids)) for t in heard]
    steps: list[Step] = []
    pending: list[int] | None = None  # a difference being gathered: [text_start, text_end, heard_start, heard_end]
    for op in Levenshtein.opcodes(text_ids, heard_ids):
        if op.tag != "equal":
            if pending is None:
                pending = [op.src_start, op.src_end, op.dest_start, op.dest_end]
            else:
                pending[1], pending[3] = op.src_end, op.dest_end
            continue
        if pending is not None:
            steps.extend(_settle(text, heard, *pending, near=near))
            pending = None
        steps.append(Step("equal", op.src_start, op.src_end, op.dest_start, op.dest_end))
    if pending is not None:
        steps.extend(_settle(text, heard, *pending, near=near))
    return _joined(steps)


def _settle(
    text: Sequence[str], heard: Sequence[str], ts: int, te: int, hs: int, he: int, *, near: float
) -> list[Step]:
    """One difference, word by word: the cheapest alignment where a near word or a merged pair costs nothing."""
    n, m = te - ts, he - hs
    if n == 0 or m == 0:
        return [Step("missing" if m == 0 else "inserted", ts, te, hs, he)]
    if n * m > _LARGEST:
        paired = min(n, m)
        rest = [Step("missing", ts + paired, te, he, he)] if n > m else [Step("inserted", te, te, hs + paired, he)]
        return [Step("substituted", ts, ts + paired, hs, hs + paired), *(rest if n != m else [])]
    a, b = text[ts:te], heard[hs:he]
    infinity = _ERROR * (n + m) + 1
    cost = [[infinity] * (m + 1) for _ in range(n + 1)]
    move: list[list[tuple[int, int, Kind] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0
    for i in range(n + 1):
        for j in range(m + 1):
            here = cost[i][j]
            if here >= infinity:
                continue
            options: list[tuple[int, int, int, Kind]] = [(i + 1, j, _ERROR, "missing"), (i, j + 1, _ERROR, "inserted")]
            if i < n and j < m:
                same = Indel.normalized_similarity(a[i], b[j]) >= near
                options.append((i + 1, j + 1, 0 if same else _ERROR, "equal" if same else "substituted"))
            for k, length in _MERGES:
                if i + k <= n and j + length <= m:
                    if Indel.normalized_similarity("".join(a[i : i + k]), "".join(b[j : j + length])) >= near:
                        options.append((i + k, j + length, k + length - 2, "equal"))
            for ni, nj, price, kind in options:
                if ni <= n and nj <= m and here + price < cost[ni][nj]:
                    cost[ni][nj] = here + price
                    move[ni][nj] = (i, j, kind)
    steps: list[Step] = []
    i, j = n, m
    while i or j:
        came = move[i][j]
        assert came is not None
        pi, pj, kind = came
        steps.append(Step(kind, ts + pi, ts + i, hs + pj, hs + j))
        i, j = pi, pj
    return steps[::-1]


def _joined(steps: list[Step]) -> list[Step]:
    """Neighbouring steps of one kind as one; substitutions stay pairs (a name is judged against its own)."""
    out: list[Step] = []
    for step in steps:
        if out and out[-1].kind == step.kind != "substituted":
            last = out[-1]
            out[-1] = Step(step.kind, last.text_start, step.text_end, last.heard_start, step.heard_end)
        else:
            out.append(step)
    return out
