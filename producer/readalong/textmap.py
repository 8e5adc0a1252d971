"""Where each character of a paragraph's normalized text came from in its raw text.

The EPUB reader narrates `normalize_text(" ".join(raw.split()))` of a paragraph's text nodes: quotes become ASCII,
"…" three periods, soft hyphens vanish, whitespace collapses. Marking a sentence in the document needs the way
back: the raw characters each normalized character stands for.
"""

from __future__ import annotations

import difflib
import unicodedata
from functools import lru_cache

from worker.text.normalize import normalize_text

Origin = tuple[int, int]  # [start, end) in the raw text


def reader_text(raw: str) -> str:
    """The paragraph as the reader narrates it."""
    return normalize_text(" ".join(raw.split()))


def origins(raw: str, narrated: str) -> list[Origin]:
    """For each character of `narrated` (`reader_text(raw)`), the raw characters it came from."""
    chars: list[str] = []
    found: list[Origin] = []
    for start, end in _clusters(raw):
        for char in _cleaned(raw[start:end]):
            if char == " " and (not chars or chars[-1] == " "):
                continue  # whitespace collapses into one space, none at the start
            chars.append(char)
            found.append((start, end))
    while chars and chars[-1] == " ":
        chars.pop()
        found.pop()
    made = "".join(chars)
    return found if made == narrated else _aligned(made, found, narrated)


def raw_span(origins: list[Origin], start: int, end: int) -> Origin:
    """The raw characters of the normalized characters [start, end)."""
    return origins[start][0], max(origins[end - 1][1], origins[start][0])


@lru_cache(maxsize=4096)
def _cleaned(cluster: str) -> str:
    """A character alone normalizes as it does among others, but for compositions across characters."""
    return " " if cluster.isspace() else normalize_text(cluster)


def _clusters(raw: str) -> list[Origin]:
    """A character with the combining marks after it: NFKC composes within such a cluster only."""
    clusters: list[Origin] = []
    for index, char in enumerate(raw):
        if clusters and unicodedata.combining(char) and not raw[index - 1].isspace():
            clusters[-1] = (clusters[-1][0], index + 1)
        else:
            clusters.append((index, index + 1))
    return clusters


def _aligned(made: str, origins: list[Origin], target: str) -> list[Origin]:
    """Origins for `target` when character-wise normalization made a slightly different text (`made`)."""
    aligned: list[Origin] = []
    matcher = difflib.SequenceMatcher(None, made, target, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            aligned.extend(origins[i1:i2])
        elif tag in ("replace", "insert"):
            if i2 > i1:
                covered = (origins[i1][0], origins[i2 - 1][1])
            else:  # characters the whole-text normalization made from nothing: stand at the neighbour's end
                at = origins[i1 - 1][1] if i1 else (origins[0][0] if origins else 0)
                covered = (at, at)
            aligned.extend([covered] * (j2 - j1))
    return aligned
