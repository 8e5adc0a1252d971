"""Where a paragraph's sentences start in the chunks cut from it, after the lexicon.

Sentences are found in the text as written (worker.text.sentences), the same way a read-along book marks them,
and followed through the lexicon's replacements into the chunks Fish is given: sentence k of paragraph p is the
same sentence in the book's markup, in its chunks and in its timings.
"""

from __future__ import annotations

from worker.text.lexicon import Lexicon
from worker.text.sentences import sentence_spans


def replaced_starts(original: str, replaced: str, *, lexicon: Lexicon, language: str) -> list[int]:
    """The offsets in `replaced` (the paragraph `original` after `lexicon`) at which its sentences start.

    Each sentence is replaced on its own; when that rebuilds the paragraph as the whole was replaced (an entry
    never spans two sentences), the starts are exact. Otherwise the sentences of the replaced text stand in.
    """
    spans = sentence_spans(original, language=language)
    if original == replaced:
        return [start for start, _ in spans]
    rebuilt, starts, position = [], [], 0
    for start, end in spans:
        rebuilt.append(original[position:start])
        starts.append(sum(len(piece) for piece in rebuilt))
        rebuilt.append(lexicon.apply(original[start:end]).text)
        position = end
    rebuilt.append(original[position:])
    return starts if "".join(rebuilt) == replaced else _own(replaced, language)


def chunk_starts(pieces: list[str], paragraph: str, starts: list[int]) -> list[list[int]]:
    """For each chunk cut from `paragraph` (in order), the offsets in it at which a sentence starts."""
    out: list[list[int]] = []
    position = 0
    for piece in pieces:
        at = paragraph.find(piece, position)
        if at < 0:  # the chunker moved whitespace in a way find cannot follow: this chunk starts a sentence
            out.append([0])
            continue
        out.append([s - at for s in starts if at <= s < at + len(piece)])
        position = at + len(piece)
    return out


def _own(text: str, language: str) -> list[int]:
    return [start for start, _ in sentence_spans(text, language=language)]
