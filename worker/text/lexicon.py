"""Pronunciation lexicons: words replaced by what Fish should read, before the text is chunked.

Applied to normalized text, deterministically and in one pass: the leftmost
match wins, then the longest, then the entry of the later lexicon; what an
entry puts in is never matched again. Entries match whole words unless told
otherwise (a possessive "'s" still counts as the word's end), ignore case
unless told otherwise, and never match inside a URL or an e-mail address.
A chunk's content address covers the replaced text, so editing one entry
re-renders only the chunks that contain its word.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from worker.text.lexicon_regex import RegexFinder, Subject
from worker.text.linear_regex import compile_linear

# Not inside a word: no letter or digit before (nor a letter and an apostrophe, as in O'Brien),
# none after (nor an apostrophe going on into a word, as in don't; a possessive 's is the word's end).
_WORD_START = r"(?<!\w)(?<!\w['’])"
_WORD_END = r"(?!\w)(?!['’](?!s\b)\w)"
# On RE2: Python's engine takes seconds on one long word with no "@" in it.
_URL = compile_linear(r"(?:[a-z][a-z0-9+.-]*://|www\.)\S+|[\w.+-]+@[\w-]+(?:\.[\w-]+)+", ignore_case=True)


@dataclass(frozen=True)
class Entry:
    """One word (or pattern) and what Fish reads instead."""

    word: str
    say: str
    case_sensitive: bool = False
    whole_word: bool = True
    regex: bool = False
    where: str = ""  # "names.yaml:12": for messages

    def pattern(self) -> re.Pattern[str] | RegexFinder:
        """A literal word on Python's `re` (its cost is fixed); a pattern someone wrote on RE2, in linear time."""
        if self.regex:
            return RegexFinder(self.word, ignore_case=not self.case_sensitive, whole_word=self.whole_word)
        body = re.escape(self.word)
        if self.whole_word:
            body = f"{_WORD_START}(?:{body}){_WORD_END}"
        return re.compile(body, 0 if self.case_sensitive else re.IGNORECASE)

    def key(self) -> tuple[str, bool, bool]:
        """Two entries with one key are the same entry: the later lexicon's wins."""
        return (self.word if self.case_sensitive or self.regex else self.word.casefold(), self.regex, self.whole_word)


@dataclass(frozen=True)
class Replaced:
    """Text after the lexicon, and where each entry put its words: (start, end, entry word), in order."""

    text: str
    spans: tuple[tuple[int, int, str], ...] = ()

    def entries_in(self, chunks: list[str]) -> list[list[str]]:
        """For each chunk cut from `text`, the entries whose words it holds (each once, in order of use).

        Chunking only moves whitespace, so chunks are located by counting the other characters.
        """
        ends = list(accumulate(_visible(chunk) for chunk in chunks))
        found: list[list[str]] = [[] for _ in chunks]
        position, counted = 0, 0  # a place in `text`, and the visible characters before it
        for start, end, word in self.spans:
            counted += _visible(self.text[position:start])
            first, last = counted, counted + _visible(self.text[start:end])
            counted, position = last, end
            index = bisect_right(ends, first)
            while index < len(chunks) and (index == 0 or ends[index - 1] < last):
                if word not in found[index]:
                    found[index].append(word)
                index += 1
        return found


class Lexicon:
    """Entries from one or more lexicon files, in order: for one key, the last one given wins."""

    def __init__(self, entries: list[Entry] | tuple[Entry, ...] = ()) -> None:
        chosen: dict[tuple[str, bool, bool], Entry] = {}
        for entry in entries:
            chosen.pop(entry.key(), None)  # re-inserted last: a later file's entry outranks on ties too
            chosen[entry.key()] = entry
        self.entries: tuple[Entry, ...] = tuple(chosen.values())
        self._patterns = [entry.pattern() for entry in self.entries]

    @classmethod
    def combine(cls, lexicons: list[Lexicon]) -> Lexicon:
        return cls([entry for lexicon in lexicons for entry in lexicon.entries])

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def apply(self, text: str) -> Replaced:
        if not self.entries:
            return Replaced(text)
        guarded = [(m.start(), m.end()) for m in _URL.finditer(text)]
        folded = text.casefold()
        subject: Subject | None = None  # the text in UTF-8, made once for all the patterns
        candidates: list[tuple[int, int, int, Any]] = []  # a re.Match, or a lexicon_regex.Found
        for rank, (entry, pattern) in enumerate(zip(self.entries, self._patterns)):
            if not entry.regex and entry.word.casefold() not in folded:
                continue  # the common case, found without the regular expression
            if isinstance(pattern, RegexFinder):
                subject = subject or Subject(text)
            for match in pattern.finditer(subject) if isinstance(pattern, RegexFinder) else pattern.finditer(text):
                if match.end() > match.start() and not _inside(match.start(), match.end(), guarded):
                    candidates.append((match.start(), -(match.end() - match.start()), -rank, match))
        candidates.sort(key=lambda c: c[:3])
        pieces: list[str] = []
        spans: list[tuple[int, int, str]] = []
        position, length = 0, 0
        for start, negative_size, negative_rank, match in candidates:
            if start < position:
                continue
            entry = self.entries[-negative_rank]
            say = match.expand(entry.say) if entry.regex else entry.say
            pieces.append(text[position:start])
            length += start - position
            spans.append((length, length + len(say), entry.word))
            pieces.append(say)
            length += len(say)
            position = start - negative_size
        pieces.append(text[position:])
        return Replaced("".join(pieces), tuple(spans))


def _visible(text: str) -> int:
    return len("".join(text.split()))


def _inside(start: int, end: int, guarded: list[tuple[int, int]]) -> bool:
    return any(start < guard_end and guard_start < end for guard_start, guard_end in guarded)
