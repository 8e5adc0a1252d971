"""A lexicon's regular-expression entry, found in linear time with the same matches Python's `re` would give.

Literal words keep Python's lookarounds (their cost is fixed); a pattern someone
wrote runs on RE2 (worker.text.linear_regex), which has no lookaround. So a
whole-word pattern is found with the word's edges spelled as characters, and
each match is then taken anchored where Python's finditer would have taken it:
the leftmost start that begins a word, the first alternative that ends one.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from worker.text.linear_regex import WORD_CHARS, compile_linear

APOSTROPHES = "'’"
# Where a word may start: after a character that is neither a letter nor an apostrophe, or after an
# apostrophe that follows no letter (O'Brien holds no word "Brien"). Where it may end: before no letter,
# nor an apostrophe going on into a word (don't), unless that is a possessive 's (James's).
_BEFORE = rf"(?:[^{WORD_CHARS}{APOSTROPHES}]|[^{WORD_CHARS}][{APOSTROPHES}]|\A[{APOSTROPHES}])"
_NOT_WORD = rf"(?:\z|[^{WORD_CHARS}])"
_AFTER = rf"(?:\z|[^{WORD_CHARS}{APOSTROPHES}]|[{APOSTROPHES}]{_NOT_WORD}|[{APOSTROPHES}]s{_NOT_WORD})"
GROUP_REFERENCE = re.compile(r"\\(\d+)|\\g<(\w+)>")


@dataclass(frozen=True)
class Found:
    """One match: its span in the text and its groups, as `re.Match` gives them to the lexicon."""

    span: tuple[int, int]
    text: str
    groups: tuple[str | None, ...]
    names: dict[str, int]

    def start(self) -> int:
        return self.span[0]

    def end(self) -> int:
        return self.span[1]

    def expand(self, template: str) -> str:
        """`\\1` and `\\g<name>` replaced by the groups (an unmatched group by nothing), as `re.Match.expand` does."""
        return GROUP_REFERENCE.sub(lambda reference: self._group(reference[1] or reference[2]), template)

    def _group(self, name: str) -> str:
        number = int(name) if name.isdigit() else self.names.get(name, -1)
        if number == 0:
            return self.text
        return (self.groups[number - 1] if 0 < number <= len(self.groups) else None) or ""


class Subject:
    """A text as RE2 reads it (UTF-8), with character and byte offsets translated both ways."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.encoded = text.encode()
        self._bytes: array[int] | None = (
            None if text.isascii() else array("q", accumulate(map(len, map(str.encode, text)), initial=0))
        )

    def byte(self, char: int) -> int:
        return char if self._bytes is None else self._bytes[char]

    def char(self, byte: int) -> int:
        return byte if self._bytes is None else bisect_left(self._bytes, byte)

    def starts_word(self, char: int) -> bool:
        if char == 0:
            return True
        before = self.text[char - 1]
        if _is_word(before):
            return False
        return not (before in APOSTROPHES and char >= 2 and _is_word(self.text[char - 2]))


class RegexFinder:
    """One regular-expression entry; `finditer(subject)` yields what Python's finditer would, in linear time per
    match."""

    def __init__(self, body: str, *, ignore_case: bool, whole_word: bool) -> None:
        self.whole_word = whole_word
        self._plain: Any = compile_linear(body, ignore_case=ignore_case)
        self._names: dict[str, int] = dict(self._plain.groupindex)
        if whole_word:
            flags = "(?i)" if ignore_case else ""
            self._at: Any = compile_linear(f"{flags}(?:{body})({_AFTER})")  # the last group: where the word ends
            self._ahead: Any = compile_linear(f"{flags}{_BEFORE}(?:{body}){_AFTER}")

    def finditer(self, subject: Subject) -> Iterator[Found]:
        if not self.whole_word:
            for match in self._plain.finditer(subject.text):
                yield Found(match.span(), match.group(), match.groups(), self._names)
            return
        position, length = 0, len(subject.text)
        while position < length:
            found = self._whole_word_from(subject, position)
            if found is None:
                return
            if found.end() > found.start():
                yield found
            position = max(found.end(), found.start() + 1)

    def _whole_word_from(self, subject: Subject, position: int) -> Found | None:
        """The leftmost whole-word match starting at or after `position`, or None."""
        starts = [position]
        if subject.text[position] in APOSTROPHES:
            starts.append(position + 1)  # a word after an apostrophe the previous match ended on
        for start in starts:
            if subject.starts_word(start) and (found := self._anchored(subject, start)):
                return found
        ahead = self._ahead.search(subject.encoded, subject.byte(position))  # the edge before the word, then the word
        while ahead is not None:
            edge = subject.char(ahead.start())
            for start in (edge + 1, edge + 2):
                if subject.starts_word(start) and (found := self._anchored(subject, start)):
                    return found
            ahead = self._ahead.search(subject.encoded, subject.byte(edge + 1))  # not reached: RE2 and Python agree
        return None

    def _anchored(self, subject: Subject, start: int) -> Found | None:
        if start > len(subject.text):
            return None
        match = self._at.match(subject.encoded, subject.byte(start))
        if match is None:
            return None
        count = self._at.groups - 1
        spans = [match.span(group) for group in range(1, count + 1)]
        groups = tuple(None if s < 0 else subject.encoded[s:e].decode() for s, e in spans)
        end = subject.char(match.span(count + 1)[0])
        return Found((start, end), subject.text[start:end], groups, self._names)


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"
