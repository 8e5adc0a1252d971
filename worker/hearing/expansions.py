"""Contractions and abbreviations spelled out, for comparison only: "don't" is "do not", "Mr." is "mister".

A voice says an abbreviation in full and a recognizer may write it either way, so both sides are spelled out
the same way here. Words arrive lower-case, apostrophes straight, outer punctuation gone; `period` says whether
the written word ended with one ("M." is "monsieur" in French, "m" alone is not).
"""

from __future__ import annotations

from functools import cache

# English contractions whose first part changes; the regular ones ("didn't", "we're") are cut at the apostrophe.
_ENGLISH_WHOLE = {
    "won't": ("will", "not"),
    "can't": ("can", "not"),
    "cannot": ("can", "not"),
    "shan't": ("shall", "not"),
    "ain't": ("is", "not"),
    "let's": ("let", "us"),
    "y'all": ("you", "all"),
    "ma'am": ("madam",),
    "o'clock": ("oclock",),
    "gonna": ("going", "to"),
    "wanna": ("want", "to"),
}
_ENGLISH_ENDINGS = (("n't", "not"), ("'re", "are"), ("'ve", "have"), ("'ll", "will"), ("'m", "am"), ("'d", "would"))
# "'s" is "is" only after these; elsewhere it is a possessive ("John's"), and the apostrophe just goes.
_ENGLISH_IS = frozenset("he she it that there what where who here how when why this".split())

# Abbreviations, with or without their period (a key ending in "." needs it).
_ABBREVIATIONS: dict[str, dict[str, tuple[str, ...]]] = {
    "en": {
        "mr": ("mister",),
        "mrs": ("missus",),
        "ms": ("miz",),
        "dr": ("doctor",),
        "prof": ("professor",),
        "mt": ("mount",),
        "jr": ("junior",),
        "sr": ("senior",),
        "vs": ("versus",),
        "etc": ("et", "cetera"),
        "&": ("and",),
    },
    "fr": {
        "m.": ("monsieur",),
        "mme": ("madame",),
        "mmes": ("mesdames",),
        "mlle": ("mademoiselle",),
        "mm.": ("messieurs",),
        "dr": ("docteur",),
        "st": ("saint",),
        "ste": ("sainte",),
        "etc": ("et", "cetera"),
    },
    "de": {
        "dr": ("doktor",),
        "hr.": ("herr",),
        "fr.": ("frau",),
        "nr": ("nummer",),
        "st.": ("sankt",),
        "zb": ("zum", "beispiel"),
        "usw": ("und", "so", "weiter"),
        "bzw": ("beziehungsweise",),
        "ca.": ("circa",),
        "etc": ("et", "cetera"),
    },
    "es": {"sr": ("señor",), "sra": ("señora",), "srta": ("señorita",), "dr": ("doctor",), "dra": ("doctora",)},
    "it": {"sig": ("signor",), "sig.ra": ("signora",), "dott": ("dottor",)},
}


@cache
def abbreviations(primary: str) -> dict[str, tuple[str, ...]]:
    """The language's table; English's where the language is unknown (its forms are not words elsewhere)."""
    return _ABBREVIATIONS.get(primary or "en", {})


def expanded(word: str, *, primary: str, period: bool, next_capital: bool) -> tuple[str, ...] | None:
    """The spoken words for `word`, or None when it is neither a contraction nor an abbreviation.

    `next_capital`: the next word starts with a capital, which makes English "St." a saint and not a street.
    """
    table = abbreviations(primary)
    found = (period and table.get(word + ".")) or table.get(word)
    if found:
        return found
    if primary in ("en", ""):
        if word == "st":
            return ("saint",) if next_capital else ("street",)
        return _english(word) if "'" in word or word in _ENGLISH_WHOLE else None
    return None


def _english(word: str) -> tuple[str, ...] | None:
    if word in _ENGLISH_WHOLE:
        return _ENGLISH_WHOLE[word]
    for ending, said in _ENGLISH_ENDINGS:
        if word.endswith(ending) and len(word) > len(ending):
            return (word[: -len(ending)], said)
    if word.endswith("'s") and word[:-2] in _ENGLISH_IS:
        return (word[:-2], "is")
    return None
