"""A paragraph's sentences as character spans: what read-along highlights and a subtitle cue shows at once.

Grammatical sentences, not the chunker's pieces: "Mr. Smith" and "J. R. R." do not end one, a period before a
lower-case word ends an abbreviation, and a quotation stays in the sentence that frames it ("'Go,' she said.").
Chinese and Japanese sentences end at their full stops without a space after them. The same text and language
always give the same spans, so the producer (which marks sentences in a book) and the worker (which times them)
agree without passing the spans around.
"""

from __future__ import annotations

import re

from worker.hearing.expansions import abbreviations
from worker.hearing.numbers import language_tag

_CLOSERS = "\"'”’»)]」』"
_WORD = re.compile(rf"[^\s。！？]+(?:[。！？]+[{re.escape(_CLOSERS)}]*)?|[。！？]+[{re.escape(_CLOSERS)}]*")
_END = re.compile(rf"[.!?…。！？][{re.escape(_CLOSERS)}]*$")
_FULL_STOP_CJK = re.compile(rf"[。！？][{re.escape(_CLOSERS)}]*$")
_OUTER_PUNCTUATION = "\"'“”‘’«»()[]¿¡"
_GERMAN_MONTHS = frozenset(
    "januar jänner februar märz april mai juni juli august september oktober november dezember".split()
)


def sentence_spans(paragraph: str, *, language: str = "") -> list[tuple[int, int]]:
    """[start, end) of each sentence of `paragraph`, in order; the spaces between sentences belong to none."""
    table = abbreviations(language_tag(language)[0])
    words = list(_WORD.finditer(paragraph))
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for index, word in enumerate(words):
        if start is None:
            start = word.start()
        following = words[index + 1].group() if index + 1 < len(words) else ""
        if _ends(word.group(), following, table):
            spans.append((start, word.end()))
            start = None
    if start is not None:
        spans.append((start, words[-1].end()))
    return spans


def sentence_id(paragraph: int, sentence: int) -> str:
    """The id a read-along book gives sentence `sentence` of its document's narrated paragraph `paragraph`."""
    return f"narrate-{paragraph}-{sentence}"


def sentences(paragraph: str, *, language: str = "") -> list[str]:
    return [paragraph[a:b] for a, b in sentence_spans(paragraph, language=language)]


def _ends(word: str, following: str, table: dict[str, tuple[str, ...]]) -> bool:
    if _FULL_STOP_CJK.search(word):
        return True
    if not _END.search(word) or not following:
        return bool(_END.search(word))
    # a period before a lower-case word ends an abbreviation or an ordinal ("am 3. Mai"), not a sentence
    bare_following = following.lstrip(_OUTER_PUNCTUATION)
    if bare_following[:1].islower():
        return False
    core = word.strip(_OUTER_PUNCTUATION).casefold()
    if core[:-1].isdigit() and bare_following.rstrip(".,").casefold() in _GERMAN_MONTHS:
        return False
    return not _abbreviation(core, table)


def _abbreviation(core: str, table: dict[str, tuple[str, ...]]) -> bool:
    """A period that closes an abbreviation or an initial ("Mr.", "J.", "e.g."), not a sentence."""
    if not core.endswith("."):
        return False
    bare = core.rstrip(".")
    return (len(bare) == 1 and bare.isalpha()) or "." in bare or bare in table or core in table or bare == "st"
