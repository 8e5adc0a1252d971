"""Numbers in their spoken form, for comparison only: "1984" and "nineteen eighty-four" are the same words.

A voice reads digits aloud and a recognizer writes them back either way, so both sides of a comparison pass
through here. Cardinals, ordinals (21st, 1er, 3.), English years, decimals, percentages and amounts of money
are spelled out with num2words in the book's language; in a language num2words does not speak, digits stay
digits on both sides. The words come back lower-case, hyphens and commas still in: the caller splits them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache, lru_cache

from num2words import CONVERTER_CLASSES, num2words

_BIGGEST = 10**15  # past this, a figure is read digit by digit (an account number, not an amount)


@dataclass(frozen=True)
class Speech:
    """How one language says the parts of a number num2words leaves to us."""

    lang: str  # num2words' name for the language, "" when it has none: digits are then kept as they are
    decimal: str = "."  # the decimal separator; the other of "." and "," groups thousands
    point: str = "point"
    percent: str = "percent"
    conjunction: str = "and"  # "five dollars and fifty cents" ("con" in Spanish)
    and_word: str = "and"  # "&"
    money: tuple[tuple[str, str, str, str], ...] = ()  # symbol, one, many, hundredths
    years: bool = False  # a bare 1000-2099 is read as a year ("nineteen eighty-four")
    ordinal_suffixes: tuple[str, ...] = ()


_ENGLISH_MONEY = (
    ("$", "dollar", "dollars", "cents"),
    ("€", "euro", "euros", "cents"),
    ("£", "pound", "pounds", "pence"),
)
_SPEECH = {
    "en": Speech("en", years=True, money=_ENGLISH_MONEY, ordinal_suffixes=("st", "nd", "rd", "th")),
    "fr": Speech(
        "fr",
        decimal=",",
        point="virgule",
        percent="pour cent",
        conjunction="et",
        and_word="et",
        money=(
            ("€", "euro", "euros", "centimes"),
            ("$", "dollar", "dollars", "cents"),
            ("£", "livre", "livres", "pence"),
        ),
        ordinal_suffixes=("er", "re", "ère", "e", "ème", "eme"),
    ),
    "de": Speech(
        "de",
        decimal=",",
        point="komma",
        percent="prozent",
        conjunction="und",
        and_word="und",
        years=True,  # "neunzehnhundertvierundachtzig"
        money=(("€", "euro", "euro", "cent"), ("$", "dollar", "dollar", "cent"), ("£", "pfund", "pfund", "pence")),
    ),
    "es": Speech(
        "es",
        decimal=",",
        point="coma",
        percent="por ciento",
        conjunction="con",
        and_word="y",
        money=(("€", "euro", "euros", "céntimos"), ("$", "dólar", "dólares", "centavos")),
        ordinal_suffixes=("º", "ª", "o", "a"),
    ),
    "it": Speech(
        "it",
        decimal=",",
        point="virgola",
        percent="per cento",
        conjunction="e",
        and_word="e",
        money=(("€", "euro", "euro", "centesimi"),),
        ordinal_suffixes=("º", "ª"),
    ),
}
# Separators between digit groups are in the pattern; which is the decimal one depends on the language.
NUMBER = re.compile(r"(?P<sign>[$€£¥])?(?P<digits>\d+(?:[.,]\d+)*)(?P<tail>\D*)")


@cache
def language_tag(language: str) -> tuple[str, str]:
    """A tag's language and region, lower and upper case: "en-GB" and "en_gb" are ("en", "GB"); "" is unknown."""
    primary, _, region = language.strip().lower().replace("-", "_").partition("_")
    return primary, region.split("_")[0].upper()


@cache
def speech_for(language: str) -> Speech:
    """The language's number speech from a tag ("en", "en-GB", "fr_CH"); digits only when num2words lacks it."""
    primary, region = language_tag(language)
    lang = next((t for t in (f"{primary}_{region}", primary) if primary and t in CONVERTER_CLASSES), "")
    # Most languages num2words speaks write a decimal comma; those below it lacks in _SPEECH write a point.
    base = _SPEECH.get(primary, Speech(lang, decimal="." if primary in ("ja", "ko", "th", "he", "zh") else ","))
    return replace(base, lang=lang)


def spoken_number(word: str, speech: Speech, *, ordinal_hint: bool = False) -> str | None:
    """`word` (lower-case, outer punctuation gone) said aloud, or None when it is not a number we can read.

    `ordinal_hint`: the word ended with a period that marks an ordinal ("am 3. Mai").
    """
    found = NUMBER.fullmatch(word)
    if found is None:
        return None
    if not speech.lang:
        return found["digits"].replace(",", "").replace(".", "") + (found["tail"] or "")
    return _spoken(found["sign"] or "", found["digits"], found["tail"], speech, ordinal_hint)


@lru_cache(maxsize=8192)
def _spoken(sign: str, digits: str, tail: str, speech: Speech, ordinal_hint: bool) -> str | None:
    value = _value(digits, speech)
    if value is None:  # "1.2.3", "007": digit by digit
        return " ".join(_say(int(d), speech) for d in re.sub(r"\D", "", digits))
    if not sign and any(m[0] == tail for m in speech.money):  # "5€"
        sign, tail = tail, ""
    if sign:
        return _money(sign, value, speech) + (" " + _symbol(tail, speech) if tail else "")
    if tail == "%":
        return f"{_decimal(value, speech)} {speech.percent}"
    if isinstance(value, int) and (tail in speech.ordinal_suffixes or ordinal_hint):
        return _say(value, speech, to="ordinal")
    if isinstance(value, int) and tail == "s" and speech.lang == "en":  # the 1990s, the '60s
        said = _say(value, speech, to="year" if 1000 <= value < 2100 else "cardinal")
        return said[:-1] + "ies" if said.endswith("y") else said + "s"
    if tail:
        return None
    if isinstance(value, int) and speech.years and 1000 <= value < 2100 and digits.isdigit():
        return _say(value, speech, to="year")
    return _decimal(value, speech)


def _value(digits: str, speech: Speech) -> int | tuple[int, str] | None:
    """An integer, or (whole part, fraction digits) for a decimal; None when the groups make no number."""
    group = "," if speech.decimal == "." else "."
    if re.fullmatch(rf"\d{{1,3}}(?:{re.escape(group)}\d{{3}})+", digits):
        return int(digits.replace(group, ""))
    whole, sep, fraction = digits.partition(speech.decimal)
    if not whole.isdigit() or (sep and not fraction.isdigit()):
        return None
    if not sep and whole.startswith("0") and len(whole) > 1:
        return None  # "007": read digit by digit
    return (int(whole), fraction) if sep else int(whole)


def _decimal(value: int | tuple[int, str], speech: Speech) -> str:
    if isinstance(value, int):
        return _say(value, speech)
    whole, fraction = value
    # English reads the digits after the point one by one; the others read them as a number unless it starts with 0
    if speech.lang.startswith("en") or fraction.startswith("0"):
        after = " ".join(_say(int(d), speech) for d in fraction)
    else:
        after = _say(int(fraction), speech)
    return f"{_say(whole, speech)} {speech.point} {after}"


def _money(sign: str, value: int | tuple[int, str], speech: Speech) -> str:
    names = next((m for m in speech.money if m[0] == sign), None)
    whole, fraction = (value, "") if isinstance(value, int) else value
    if names is None:
        return _decimal(value, speech)
    said = f"{_say(whole, speech)} {names[1] if whole == 1 else names[2]}"
    cents = int(fraction.ljust(2, "0")[:2]) if fraction else 0
    return f"{said} {speech.conjunction} {_say(cents, speech)} {names[3]}" if cents else said


def _symbol(symbol: str, speech: Speech) -> str:
    return spoken_symbol(symbol, speech) or ""


def spoken_symbol(symbol: str, speech: Speech) -> str | None:
    """A symbol standing alone ("50 %", "5 €" in French typography) as its word; None for any other."""
    if symbol == "%":
        return speech.percent
    if symbol == "&":
        return speech.and_word
    names = next((m for m in speech.money if m[0] == symbol), None)
    return names[2] if names else None


def _say(value: int, speech: Speech, *, to: str = "cardinal") -> str:
    if value >= _BIGGEST:
        return " ".join(_say(int(d), speech) for d in str(value))
    try:
        return num2words(value, lang=speech.lang, to=to).lower()
    except (NotImplementedError, OverflowError, TypeError, ValueError, KeyError, IndexError):
        return num2words(value, lang=speech.lang).lower() if to != "cardinal" else str(value)
