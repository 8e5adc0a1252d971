"""Both sides of a take in comparable words: what the text says and what the recognizer heard, normalized alike.

For comparison only, never for speech: Unicode NFKC, case folded, punctuation and quotation marks of every
script gone, hyphenated words split, numbers, contractions and abbreviations spelled out (numbers.py,
expansions.py), Chinese and Japanese split into characters. Each token keeps the index of the word it came from
(a word of the text, a segment of the transcript), so a finding can quote the text and give the heard times.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from worker.hearing.expansions import abbreviations, expanded
from worker.hearing.numbers import Speech, language_tag, speech_for, spoken_number, spoken_symbol
from worker.hearing.transcript import Transcript


def _punctuation_class() -> str:
    """Every punctuation mark and symbol of the Basic Multilingual Plane, as a regular expression class body."""
    ranges: list[list[int]] = []
    for code in range(0x10000):
        if unicodedata.category(chr(code))[0] in "PS":
            if ranges and ranges[-1][1] == code - 1:
                ranges[-1][1] = code
            else:
                ranges.append([code, code])
    return "".join(re.escape(chr(a)) + (f"-{re.escape(chr(b))}" if b > a else "") for a, b in ranges)


_P = _punctuation_class()
_KEPT_LEADING = "$€£¥&%"  # a currency before its amount; "&" and "%" alone are words
_OUTER = re.compile(rf"(?P<lead>(?:(?![{re.escape(_KEPT_LEADING)}])[{_P}])*)(?P<core>.*?)(?P<tail>[{_P}]*)", re.S)
_INNER = re.compile(f"[{_P}]")
_SPLIT = re.compile(r"[-‐‑‒–—―/…:]+")  # hyphens, dashes, slashes, ellipses and colons ("10:45") part words
_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "ʼ": "'", "′": "'", "`": "'", "´": "'"})
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_CJK_SPLIT = re.compile(f"[{_CJK}]|[^{_CJK}]+")
_HAS_CJK = re.compile(f"[{_CJK}]")
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*$")
_CLOSED = re.compile(r"[!?…。！？][\"'”’»)\]]*$|[\"”»“」』]$")  # a question, an exclamation, a quotation closed
_OPENING = "\"'“‘«„(["
# A word runs to the next space; Chinese and Japanese sentences also end without one.
_WORD = re.compile(rf"\S+?(?:[。!?！？]+[」』]*(?=[「『]?[{_CJK}])|(?=\s|$))")
_GERMAN_MONTHS = frozenset(
    "januar jänner februar märz april mai juni juli august september oktober november dezember".split()
)
_DIGIT_GROUP = re.compile(r"\d{1,3}")
_FIGURE = re.compile(r"\d{3}[.,%€]?")
_ALNUM = re.compile(r"[^\W_]")
_NOUNS_CAPITALIZED = frozenset({"de", "lb"})  # every noun starts with a capital: a capital says nothing of names


@dataclass(frozen=True)
class Words:
    """One side of a comparison: the words as written or heard, and the tokens compared."""

    words: tuple[str, ...]  # a text's words, or a transcript's segments
    tokens: tuple[str, ...]
    origin: tuple[int, ...]  # for each token, the index of its word

    @cached_property
    def letters(self) -> int:
        """How long the tokens are to say: their letters, a Chinese or Japanese character counting as three."""
        return sum(3 if _HAS_CJK.match(t) else len(t) for t in self.tokens)


@dataclass(frozen=True)
class Written(Words):
    """The text a voice was given: its words' places in the text, their sentences, and which are names."""

    spans: tuple[tuple[int, int], ...]  # each word's start and end in `text`
    sentence: tuple[int, ...]  # each word's sentence, counted from 0
    names: frozenset[int]  # the words that are proper names (capitalized inside a sentence, somewhere in the text)
    text: str

    def quote(self, first: int, last: int) -> str:
        """The text from word `first` to word `last`, both included, as written."""
        return self.text[self.spans[first][0] : self.spans[last][1]]


@dataclass(frozen=True)
class Heard(Words):
    """What the recognizer heard: its segments' times, when it gave them."""

    times: tuple[tuple[float, float] | None, ...]  # each segment's start and end in the take, seconds

    def quote(self, first: int, last: int) -> str:
        return " ".join(w.strip() for w in self.words[first : last + 1])


def written(text: str, language: str, *, lexicon: Sequence[tuple[str, str]] = ()) -> Written:
    """The text a voice was given, as comparable tokens. `lexicon`: the replacements made in it, (the word, what
    the voice was given instead): a recognizer writes "Hermione", not the "Her-my-oh-nee" the voice read."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    spans = tuple(m.span() for m in _WORD.finditer(text))
    words = tuple(text[a:b] for a, b in spans)
    tokens, origin = _tokenize(words, language)
    for word, say in lexicon:
        tokens, origin = _respelled(tokens, origin, said=_tokens_of(say, language), word=_tokens_of(word, language))
    sentence, names = _sentences_and_names(words, language)
    return Written(words, tokens, origin, spans, sentence, names, text)


def heard(transcript: Transcript, language: str) -> Heard:
    """A transcript as comparable tokens: its segments if it has them, else its text's words (and no times)."""
    if transcript.segments:
        pieces = tuple(s.text for s in transcript.segments)
        times: tuple[tuple[float, float] | None, ...] = tuple((s.start, s.end) for s in transcript.segments)
    else:
        pieces = tuple(transcript.text.split())
        times = (None,) * len(pieces)
    pieces = tuple(unicodedata.normalize("NFKC", p).translate(_APOSTROPHES) for p in pieces)
    tokens, origin = _tokenize(pieces, language)
    return Heard(pieces, tokens, origin, times)


def _tokenize(words: tuple[str, ...], language: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    tokens: list[str] = []
    origin: list[int] = []
    primary = language_tag(language)[0]
    grouped = _digit_groups(words, primary)
    for index, word in enumerate(words):
        if index in grouped:
            continue  # the trailing "000" of "1 000": read with the word before it
        following = words[index + 1] if index + 1 < len(words) else ""
        if index + 1 in grouped:
            word, following = _join_groups(words, index, grouped)
        ordinal_next = following[:1].islower() or (primary == "de" and _bare(following) in _GERMAN_MONTHS)
        for token in _word_tokens(word, language, following[:1].isupper(), ordinal_next):
            tokens.append(token)
            origin.append(index)
    return tuple(tokens), tuple(origin)


def _tokens_of(text: str, language: str) -> tuple[str, ...]:
    return _tokenize(tuple(unicodedata.normalize("NFKC", text).translate(_APOSTROPHES).split()), language)[0]


def _respelled(
    tokens: tuple[str, ...], origin: tuple[int, ...], *, said: tuple[str, ...], word: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """`tokens` with every run of `said` turned back into `word`, each word token from the first said one's word."""
    if not said or not word or said == word:
        return tokens, origin
    out: list[str] = []
    came: list[int] = []
    i, n = 0, len(said)
    while i < len(tokens):
        if tokens[i] == said[0] and tokens[i : i + n] == said:
            out.extend(word)
            came.extend([origin[i]] * (len(word) - 1) + [origin[i + n - 1]])
            i += n
        else:
            out.append(tokens[i])
            came.append(origin[i])
            i += 1
    return tuple(out), tuple(came)


def _digit_groups(words: tuple[str, ...], primary: str) -> set[int]:
    """Words that continue a number grouped by spaces ("1 000 000" in French): they join the word before."""
    if primary == "en":
        return set()
    joined: set[int] = set()
    for index in range(1, len(words)):
        if _FIGURE.fullmatch(words[index]) and _DIGIT_GROUP.fullmatch(words[index - 1].lstrip("$€£")[-3:] or "x"):
            if index - 1 in joined or words[index - 1].lstrip("$€£").isdigit():
                joined.add(index)
    return joined


def _join_groups(words: tuple[str, ...], index: int, grouped: set[int]) -> tuple[str, str]:
    end = index + 1
    while end in grouped:
        end += 1
    return "".join(words[index:end]), words[end] if end < len(words) else ""


@lru_cache(maxsize=65536)
def _word_tokens(word: str, language: str, next_capital: bool, ordinal_next: bool) -> tuple[str, ...]:
    """One written word's tokens (cached: a book says the same words again and again)."""
    speech = speech_for(language)
    primary = language_tag(language)[0]
    folded = word.casefold()
    if folded.isalpha() and not _HAS_CJK.search(folded):  # most words: nothing to strip, split or spell out
        said = expanded(folded, primary=primary, period=False, next_capital=next_capital)
        return said or (sys.intern(folded),)
    out: list[str] = []
    for part in _SPLIT.split(folded):
        found = _OUTER.fullmatch(part)
        core, tail = (found["core"], found["tail"]) if found else (part, "")
        if not core and tail and tail[0] in _KEPT_LEADING:  # "%." at a sentence's end
            core, tail = tail[0], tail[1:]
        if core[-1:].isdigit() and tail[:1] in ("%", "€", "£", "$"):
            core, tail = core + tail[0], tail[1:]
        out.extend(
            _part_tokens(core, speech=speech, primary=primary, period="." in tail, hints=(next_capital, ordinal_next))
        )
    return tuple(out)


def _part_tokens(core: str, *, speech: Speech, primary: str, period: bool, hints: tuple[bool, bool]) -> list[str]:
    """One part of a word (hyphens split it), its outer punctuation gone; `hints`: the next word is capitalized,
    the next word makes a German number with a period an ordinal."""
    if not core:
        return []
    if any(c.isdigit() for c in core):
        said = spoken_number(core, speech, ordinal_hint=primary == "de" and period and hints[1])
        if said is not None:
            return [t for t in _INNER.sub(" ", said).split() if t]
    if len(core) == 1 and (symbol := spoken_symbol(core, speech)):  # "50 %", "5 €"
        return symbol.split()
    said = expanded(core, primary=primary, period=period, next_capital=hints[0])
    if said:
        return list(said)
    bare = _INNER.sub("", core)
    said = expanded(bare, primary=primary, period=period, next_capital=hints[0]) if bare != core else None
    if said:  # "z.B.", "e.g."
        return list(said)
    core = bare
    if _HAS_CJK.search(core):
        return [t for t in _CJK_SPLIT.findall(core) if t.strip()]
    return [core] if core else []


def _sentences_and_names(words: tuple[str, ...], language: str) -> tuple[tuple[int, ...], frozenset[int]]:
    """Each word's sentence (a quotation closing counts as an end: a voice drops quoted speech whole), and the
    words that are names: capitalized where no sentence begins, four letters or more (not the "The" or "His"
    of a title)."""
    primary = language_tag(language)[0]
    table = abbreviations(primary)
    sentence: list[int] = []
    starts: list[bool] = []
    count, starting = 0, True
    for index, word in enumerate(words):
        sentence.append(count)
        starts.append(starting or word[:1] in _OPENING)
        if not _ALNUM.search(word):  # a quotation mark or a dash standing alone (« Oui »)
            closes = bool(_CLOSED.search(word)) and not starting
            count += closes
            starting = starting or closes or word[:1] in _OPENING
            continue
        starting = _ends_sentence(word, words[index + 1] if index + 1 < len(words) else "", table)
        count += starting
    if primary in _NOUNS_CAPITALIZED:
        return tuple(sentence), frozenset()
    capitals = [i for i, w in enumerate(words) if _capitalized(w)]
    named = {_bare(words[i]) for i in capitals if not starts[i]}
    return tuple(sentence), frozenset(i for i in capitals if _bare(words[i]) in named)


def _ends_sentence(word: str, following: str, table: dict[str, tuple[str, ...]]) -> bool:
    if _CLOSED.search(word):
        return True
    if not _SENTENCE_END.search(word):
        return False
    # a period before a lower-case word ends an abbreviation or an ordinal ("am 3. Mai"), not a sentence
    if following[:1].islower() or (_bare(word).isdigit() and _bare(following) in _GERMAN_MONTHS):
        return False
    return not _abbreviated(word, table)


def _bare(word: str) -> str:
    found = _OUTER.fullmatch(word.casefold())
    return found["core"] if found else word.casefold()


def _capitalized(word: str) -> bool:
    bare = word.lstrip(_OPENING)
    return bare[:1].isupper() and len(_bare(bare)) >= 4


def _abbreviated(word: str, table: dict[str, tuple[str, ...]]) -> bool:
    """A period that closes an abbreviation or an initial ("Mr.", "J."), not a sentence."""
    if not word.endswith("."):
        return False
    bare = _bare(word)
    return (len(bare) == 1 and bare.isalpha()) or "." in bare or bare in table or bare + "." in table or bare == "st"
