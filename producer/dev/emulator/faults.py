"""Faulted takes: what a generative voice gets wrong, applied to the text the emulator is about to speak.

A take may drop a sentence (preferably one right after a closing quotation mark), repeat a phrase of 3-8 words,
garble a word (preferably a capitalized name) into nonsense syllables, or stop partway through its last clause.
The fault shapes what is synthesized, so the audio and the words written into it (frames.py) agree. The dice are
seeded by the text and how many times it was rendered before: a retake can come out clean, a run is reproducible.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass

KINDS: tuple[str, ...] = ("drop", "repeat", "garble", "cut")
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’»)\]]*$")
_CLOSING_QUOTE = re.compile(r"[\"”’»]$")
_CLAUSE_END = re.compile(r"[,;:—–]$")
_SYLLABLES = ("ba", "do", "ki", "lu", "mo", "ne", "pa", "ri", "so", "tu", "va", "zo", "gra", "mip", "trel")


@dataclass(frozen=True)
class Take:
    """What one render says: `spoken` is the text to synthesize; a cut take stops before word `cut_at`."""

    spoken: str
    fault: str | None = None
    detail: str = ""  # the words the fault concerns: dropped, repeated, garbled (as said), or cut off
    cut_at: int | None = None  # index, among spoken.split(), of the first word not said


def dice(text: str, rendered_before: int) -> random.Random:
    digest = hashlib.sha256(f"{rendered_before}:{text}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def plan_take(text: str, rates: dict[str, float], rng: random.Random) -> Take:
    """The take of `text`: at most one fault, chosen by `rates` (kind -> probability), when the text allows it."""
    roll, threshold = rng.random(), 0.0
    for kind in KINDS:
        threshold += rates.get(kind, 0.0)
        if roll < threshold:
            return _FAULTS[kind](text, rng) or Take(spoken=text)
    return Take(spoken=text)


def _words(text: str) -> list[re.Match[str]]:
    return list(re.finditer(r"\S+", text))


def _sentences(words: list[re.Match[str]]) -> list[tuple[int, int]]:
    """(first, last) word index of each sentence."""
    spans, first = [], 0
    for index, word in enumerate(words):
        if _SENTENCE_END.search(word.group()) or index == len(words) - 1:
            spans.append((first, index))
            first = index + 1
    return spans


def _drop(text: str, rng: random.Random) -> Take | None:
    words = _words(text)
    sentences = _sentences(words)
    if len(sentences) < 2:
        return None
    after_quote = [i for i in range(1, len(sentences)) if _CLOSING_QUOTE.search(words[sentences[i - 1][1]].group())]
    first, last = sentences[rng.choice(after_quote or range(len(sentences)))]
    start = words[first].start()
    end = words[last + 1].start() if last + 1 < len(words) else len(text)
    spoken = text[:start] + text[end:]
    return Take(spoken=spoken.rstrip() or spoken, fault="drop", detail=text[start:end].strip())


def _repeat(text: str, rng: random.Random) -> Take | None:
    words = _words(text)
    if len(words) < 3:
        return None
    length = rng.randint(3, min(8, len(words)))
    first = rng.randint(0, len(words) - length)
    phrase = text[words[first].start() : words[first + length - 1].end()]
    at = words[first + length - 1].end()
    return Take(spoken=f"{text[:at]} {phrase}{text[at:]}", fault="repeat", detail=phrase)


def _garble(text: str, rng: random.Random) -> Take | None:
    words = _words(text)
    cores = [re.match(r"^\W*(\w+)", w.group()) for w in words]
    candidates = [i for i, core in enumerate(cores) if core is not None and len(core.group(1)) >= 2]
    if not candidates:
        return None
    starts = {first for first, _ in _sentences(words)}
    names = [i for i in candidates if i not in starts and cores[i].group(1)[0].isupper()]  # type: ignore[union-attr]
    index = rng.choice(names or candidates)
    core = cores[index]
    assert core is not None
    nonsense = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3)))
    if core.group(1)[0].isupper():
        nonsense = nonsense.capitalize()
    start, end = words[index].start() + core.start(1), words[index].start() + core.end(1)
    return Take(spoken=text[:start] + nonsense + text[end:], fault="garble", detail=nonsense)


def _cut(text: str, rng: random.Random) -> Take | None:
    words = _words(text)
    if len(words) < 2:
        return None
    # The last clause starts after the last clause or sentence end before the final word.
    first = max([i + 1 for i in range(len(words) - 1) if _CLAUSE_END.search(words[i].group())], default=0)
    first = max(first, _sentences(words)[-1][0])
    cut_at = rng.randint(first + 1, len(words) - 1) if first + 1 < len(words) else len(words) - 1
    return Take(spoken=text, fault="cut", detail=text[words[cut_at].start() :].strip(), cut_at=cut_at)


_FAULTS = {"drop": _drop, "repeat": _repeat, "garble": _garble, "cut": _cut}
