"""Regular expressions that run in linear time: Python-style patterns compiled by RE2, which never backtracks.

    pattern = compile_linear(r"Dr\\.\\s+(\\w+)", ignore_case=True)

A lexicon is input from whoever submits work, and Python's own engine can take
seconds per character on a pattern such as `(\\w+\\s?)+;`. RE2 cannot: it has no
backtracking, so it refuses what needs it (lookaround, backreferences, atomic
groups, possessive quantifiers) with an UnsupportedPattern that says so.
Python's Unicode classes (`\\w`, `\\d`, `\\s`) keep their meaning; RE2's are ASCII
only, so they are spelled out as Unicode properties.
"""

from __future__ import annotations

from typing import Any

import re2

_SPACE = r"\t\n\x0b\f\r\x1c-\x1f \x{85}\x{a0}\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}\x{205f}\x{3000}"
WORD_CHARS = r"\p{L}\p{N}_"  # Python's \w: str.isalnum() or "_"
_OUTSIDE = {
    "w": f"[{WORD_CHARS}]",
    "W": f"[^{WORD_CHARS}]",
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
}
_INSIDE = {"w": WORD_CHARS, "d": r"\p{Nd}", "D": r"\P{Nd}", "s": _SPACE}
_SYNTAX = "RE2 syntax: https://github.com/google/re2/wiki/Syntax"
_WHY = "lexicon regular expressions never backtrack, so that they run in linear time"
_UNSUPPORTED = {  # RE2's parse error, and what a person should hear instead
    "invalid perl operator: (?=": "lookahead (?=…)",
    "invalid perl operator: (?!": "negative lookahead (?!…)",
    "invalid perl operator: (?<=": "lookbehind (?<=…)",
    "invalid perl operator: (?<!": "negative lookbehind (?<!…)",
    "invalid perl operator: (?>": "an atomic group (?>…)",
    "invalid perl operator: (?P": "a backreference (?P=name)",
    "invalid perl operator: (?x": "verbose mode (?x)",
    "invalid escape sequence: \\": "a backreference or an escape RE2 lacks: {reason}",
    "bad repetition operator: *+": "a possessive quantifier (*+)",
    "bad repetition operator: ++": "a possessive quantifier (++)",
    "bad repetition operator: ?+": "a possessive quantifier (?+)",
}


class UnsupportedPattern(ValueError):
    """A pattern RE2 cannot run (or that is not a regular expression at all); the message says which construct."""


def compile_linear(pattern: str, *, ignore_case: bool = False) -> Any:
    """The pattern compiled by RE2 (a `re2._Regexp`: search, match, finditer, groups, groupindex as in `re`)."""
    translated = to_re2(pattern)
    options = re2.Options()
    options.log_errors = False  # the refusal is the exception, not a line on stderr
    try:
        return re2.compile(("(?i)" if ignore_case else "") + translated, options)
    except re2.error as exc:
        raise UnsupportedPattern(_explain(exc)) from None


def to_re2(pattern: str) -> str:
    """Python's spelling turned into RE2's: Unicode classes spelled out, `\\Z` as `\\z`, `\\uXXXX` as `\\x{XXXX}`."""
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escape = pattern[index + 1]
            index += 2
            if escape in "bB":
                raise UnsupportedPattern(
                    f"\\{escape} (a word boundary), not supported: entries match whole words"
                    " unless told otherwise (whole_word: false)"
                )
            if in_class and escape in "WS":
                raise UnsupportedPattern(
                    f"\\{escape} inside [...], not supported: write a negated class [^...] instead"
                )
            if escape in (_INSIDE if in_class else _OUTSIDE):
                out.append((_INSIDE if in_class else _OUTSIDE)[escape])
            elif escape == "Z":
                out.append(r"\z")
            elif escape in "uU":
                digits = pattern[index : index + (4 if escape == "u" else 8)]
                if len(digits) != (4 if escape == "u" else 8) or not all(d in "0123456789abcdefABCDEF" for d in digits):
                    raise UnsupportedPattern(f"\\{escape}{digits} is not a valid escape: \\u takes 4 hex digits, \\U 8")
                out.append(f"\\x{{{digits}}}")
                index += len(digits)
            else:
                out.append("\\" + escape)
            continue
        if char == "[" and not in_class:
            in_class = True
            out.append(char)
            index += 1
            for literal in ("^", "]"):  # "[^]...]" and "[]...]": a first "]" is a member, not the end
                if pattern.startswith(literal, index):
                    out.append(literal)
                    index += 1
            continue
        if char == "]" and in_class:
            in_class = False
        out.append(char)
        index += 1
    return "".join(out)


def _explain(exc: Exception) -> str:
    reason = str(exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc)
    for start, construct in _UNSUPPORTED.items():
        if reason.startswith(start):
            return f"{construct.format(reason=reason)}, not supported: {_WHY} ({_SYNTAX})"
    return reason
