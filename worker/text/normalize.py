"""Normalize text before it is sent to a TTS API.

The output is deterministic (the same input always gives the same output) and
idempotent, so content-addressed chunk audio stays reusable when a book is
read again. Only speakable characters survive; paragraph breaks are exactly
"\n\n" and every other run of whitespace is a single space.
"""

from __future__ import annotations

import re
import unicodedata

# Mapped before NFKC as well as after: NFKC turns "″" into two primes, which
# would otherwise become two apostrophes instead of one double quote.
_PUNCTUATION = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u201f": '"',
        "\u00ab": '"',
        "\u00bb": '"',
        "\u2033": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u2026": "...",
        "\t": " ",
        # Line and paragraph separators are line endings too.
        "\u2028": "\n",
        "\u2029": "\n\n",
        "\x85": "\n",
        "\x0b": "\n",
        "\x0c": "\n\n",
    }
)

_REMOVED_CHARS = frozenset(
    [0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD, 0x20E3]  # zero-width, soft hyphen, keycap
    + list(range(0xFE00, 0xFE10))  # variation selectors
    + list(range(0xE0100, 0xE01F0))  # variation selectors supplement
    + list(range(0x180B, 0x1810))  # Mongolian free variation selectors
    + list(range(0x1F3FB, 0x1F400))  # emoji skin-tone modifiers
)
# Symbols and other characters no voice can say: pictographs/emoji (So),
# private use (Co), surrogates (Cs), unassigned (Cn), and invisible format
# characters (Cf) such as bidi marks and emoji tag sequences.
_REMOVED_CATEGORIES = frozenset({"So", "Co", "Cs", "Cn", "Cf"})
_SPACES = re.compile(r" {2,}")


def normalize_text(text: str) -> str:
    """Clean, speakable text: one space between words, "\n\n" between paragraphs."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # Removing a character can bring a letter next to a combining mark that
    # NFKC then composes, so repeat until nothing changes (at most a few rounds).
    for _ in range(4):
        cleaned = _clean_characters(text)
        if cleaned == text:
            break
        text = cleaned
    paragraphs: list[str] = []
    current: list[str] = []
    for line in text.split("\n"):
        line = _SPACES.sub(" ", line).strip()
        if line:
            current.append(line)  # a single newline is a line wrap
        elif current:
            paragraphs.append(" ".join(current))  # a blank line ends the paragraph
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n\n".join(paragraphs)


def _clean_characters(text: str) -> str:
    text = unicodedata.normalize("NFKC", text.translate(_PUNCTUATION)).translate(_PUNCTUATION)
    return "".join(_speakable(char) for char in text)


def _speakable(char: str) -> str:
    if char == "\n":
        return char
    if ord(char) in _REMOVED_CHARS:
        return ""
    category = unicodedata.category(char)
    if category in _REMOVED_CATEGORIES:
        return ""
    if category == "Cc":
        # Any other control character; "\t" was already turned into a space.
        return ""
    if category.startswith("Z"):
        return " "
    return char
