"""The words to check before paying for a whole audiobook: names, rare words, acronyms and numbers with units.

    is_common = common_word_test("en-US", rarer_than=3.0)  # NoWordList when wordfreq has no list for it
    for entry in find_words(numbered_chapters(book, choice), is_common=is_common, language=book.language):
        print(entry.count, entry.word, entry.categories, entry.sample)

Capitals tell names only where the sentence does not ask for them: a capitalised word counts as a name when it is
seen after a sentence's first word, outside headings, more often than its lowercase form is. Scripts without
letter case (Chinese, Japanese, ...) therefore have no names or acronyms, nor has German, which capitalises every
noun; rare words need a wordfreq list.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from producer.readers.booktext import BookText, ChapterText
from producer.readers.selection import ChapterChoice, choose

NAME, ACRONYM, UNCOMMON, NUMBER = "name", "acronym", "uncommon", "number"
DEFAULT_RARER_THAN = 3.0  # wordfreq's Zipf scale: 3 is about once per million words
SAMPLE_CHARS = 160
# langcodes' distance: regional variants are about 5, Croatian to Serbo-Croatian 9; Basque to Spanish is 20, too far
_MAX_LANGUAGE_DISTANCE = 10
# wordfreq splits these languages into words with jieba or MeCab, which the words extra leaves out; nor does _WORD
_NEEDS_SEGMENTER = ("jieba", "mecab")
_NOUNS_CAPITALISED = frozenset({"de", "gsw", "lb"})  # German, Swiss German, Luxembourgish

# Letters, with apostrophes and hyphens inside ("O'Brien", "well-known"); none touching a digit ("3rd", "MP3").
_WORD = re.compile(r"(?<!\w)[^\W\d_]+(?:['’-][^\W\d_]+)*(?!\w)")
_SENTENCE_END = re.compile(r"[.!?]+[\"'’”)\]]*\s+")
_WORD_BEFORE = re.compile(r"(\w+)$")
_ABBREVIATIONS = frozenset(
    (
        "Mr Mrs Ms Mx Dr St Mt Ft Prof Rev Hon Sr Jr Messrs Mme Mlle Capt Col Gen Lt Sgt Gov Sen Rep vs etc viz cf al"
    ).split()
)
_OPENING_QUOTES = "\"'“‘«"  # normalized text has only the first two; a quote opens after a space or bracket
_PRONOUN_I = re.compile(r"I(?:['’]|$)")
_ROMAN_UP_TO_49 = re.compile(r"(?:XL|X{0,3})(?:IX|IV|V?I{0,3})")
_NUMBER = r"\d+(?:[.,]\d+)*"
_UNITS = (
    "km/h|km²|km2|km|cm²|cm2|cm³|cm3|cm|mm|nm|[µμ]m|m/s|m²|m2|m³|m3|m|"
    "kg|mg|g|lbs|lb|oz|ft|yd|mi|mph|kph|ha|ml|mL|cl|l|L|GHz|MHz|kHz|Hz|"
    "TB|GB|MB|KB|kB|Gbps|Mbps|Gb|Mb|kWh|kW|MW|GW|W|mAh|mA|kV|V|°C|°F|°|kcal|cal|kJ|ms|[µμ]s|ns|sec|min|hrs|hr|h|"
    "px|dpi|psi|dB|cc|USD|EUR|GBP"
)
# "5 km", "12kg", "3.5 GHz", "10%", "£20", "$1.5m"; the number must not continue a word or another number
_MEASURE = re.compile(
    rf"(?<![\w.,])(?:[$£€¥₹]\s?{_NUMBER}(?:bn|[kmb])?(?!\w)|{_NUMBER}[\s-]?(?:%|‰|(?:{_UNITS})(?![\w/²³])))"
)


class NoWordList(Exception):
    """wordfreq has no common-word list this analysis can use for the language."""


class NotALanguageTag(NoWordList):
    """The language is not even a well-formed tag."""


@dataclass(frozen=True)
class WordEntry:
    word: str
    categories: tuple[str, ...]
    count: int  # uses in the chapters analysed
    sample: str  # the first sentence using it, trimmed to SAMPLE_CHARS
    chapter: str  # the title of the chapter of its first use
    chapter_number: int  # that chapter's number, as `narrate estimate` lists a book's contents

    def as_dict(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "categories": list(self.categories),
            "count": self.count,
            "sample": self.sample,
            "chapter": self.chapter,
            "chapter_number": self.chapter_number,
        }


@dataclass
class _Tally:
    first: tuple[int, int, str, str, int]  # (order seen, chapter number, chapter title, sentence, offset in it)
    count: int = 0
    free: int = 0  # capitalised where capitals say nothing: past a sentence's first word, outside headings
    unshouted: int = 0  # outside all-capitals sentences

    def merged(self, other: _Tally) -> _Tally:
        return _Tally(
            min(self.first, other.first),
            self.count + other.count,
            self.free + other.free,
            self.unshouted + other.unshouted,
        )


def numbered_chapters(book: BookText, choice: ChapterChoice) -> list[tuple[int, ChapterText]]:
    """The chosen chapters with their numbers in the whole book; BadInput as `choose` says."""
    choose(book, choice)
    return [(number, chapter) for number, chapter in enumerate(book.chapters, start=1) if choice.takes(number, chapter)]


def find_words(
    chapters: Iterable[tuple[int, ChapterText]], *, is_common: Callable[[str], bool] | None, language: str = ""
) -> list[WordEntry]:
    """Every word worth checking, most used first; `is_common` None leaves out the rare-word category.

    German and its kin capitalise every noun, so capitals tell no names there: their rare words are listed as uncommon.
    """
    words, measures = _tally(chapters)
    nouns_capitalised = language.replace("_", "-").split("-")[0].lower() in _NOUNS_CAPITALISED
    entries = [_entry(word, tally, (NUMBER,)) for word, tally in measures.items()]
    for word, (tally, categories) in _fold_case(words).items():
        if nouns_capitalised:
            categories = tuple(c for c in categories if c != NAME)
        if is_common is not None and not is_common(word):
            categories = (*categories, UNCOMMON)
        if categories:
            entries.append(_entry(word, tally, categories))
    return sorted(entries, key=lambda e: (-e.count, e.word.casefold(), e.word))


def word_list_language(language: str) -> str:
    """wordfreq's list for a BCP 47 tag ("en-US" -> "en"), or NoWordList saying why there is none."""
    import langcodes  # wordfreq's own language matching
    import wordfreq
    from wordfreq.language_info import get_language_info

    try:
        best, _distance = langcodes.closest_match(
            language, list(wordfreq.available_languages()), max_distance=_MAX_LANGUAGE_DISTANCE
        )
    except ValueError as exc:
        raise NotALanguageTag(f"{language!r} is not a language tag such as en, en-US or fr") from exc
    if best == "und":
        raise NoWordList(f"wordfreq has no common-word list for {language!r}")
    if get_language_info(best)["tokenizer"] in _NEEDS_SEGMENTER:
        raise NoWordList(f"{language!r} is written without spaces between words; its words cannot be looked up")
    return best


def common_word_test(language: str, *, rarer_than: float = DEFAULT_RARER_THAN) -> Callable[[str], bool]:
    """True for a word at least `rarer_than` on wordfreq's Zipf scale in `language`.

    NoWordList when there is no list for the language.
    """
    from wordfreq import zipf_frequency

    code = word_list_language(language)

    @cache
    def is_common(word: str) -> bool:
        return zipf_frequency(word, code) >= rarer_than

    return is_common


def sentences(paragraph: str) -> Iterator[str]:
    """The paragraph's sentences: each ends at . ! or ? (and closing quotes), unless after "Mr." or an initial."""
    start = 0
    for end in _SENTENCE_END.finditer(paragraph):
        if paragraph[end.start()] == "." and _is_abbreviation(paragraph, end.start()):
            continue
        yield paragraph[start : end.end()].rstrip()
        start = end.end()
    if start < len(paragraph):
        yield paragraph[start:]


def _is_abbreviation(text: str, dot: int) -> bool:
    before = _WORD_BEFORE.search(text, max(0, dot - 12), dot)
    return before is not None and (before[1] in _ABBREVIATIONS or (len(before[1]) == 1 and before[1].isupper()))


def _is_heading(paragraph: str) -> bool:
    """A short title-case line without a full stop ("The Steadfast Tin Soldier"): its capitals are style, not names."""
    if len(paragraph) > 120 or paragraph.rstrip("\"'’”)").endswith((".", "!", "?")):
        return False
    return all(word[0].isupper() for word in _WORD.findall(paragraph) if len(word) > 3)


def _tally(chapters: Iterable[tuple[int, ChapterText]]) -> tuple[dict[str, _Tally], dict[str, _Tally]]:
    words: dict[str, _Tally] = {}
    measures: dict[str, _Tally] = {}
    order = 0
    for number, chapter in chapters:
        for paragraph in chapter.text.split("\n\n"):
            heading = _is_heading(paragraph)
            for sentence in sentences(paragraph):
                shouted = sentence.isupper()
                spans = []
                for match in _MEASURE.finditer(sentence):
                    order += 1
                    tally = measures.setdefault(
                        " ".join(match[0].split()), _Tally((order, number, chapter.title, sentence, match.start()))
                    )
                    tally.count += 1
                    spans.append(match.span())
                first_word = True
                for match in _WORD.finditer(sentence):
                    if spans and any(start <= match.start() < end for start, end in spans):
                        continue  # the unit of "5 km" is part of its number
                    order += 1
                    word = match[0][:-2] if match[0][-2:] in ("'s", "’s", "'S", "’S") else match[0]
                    tally = words.get(word)
                    if tally is None:
                        tally = words[word] = _Tally((order, number, chapter.title, sentence, match.start()))
                    tally.count += 1
                    tally.unshouted += not shouted
                    starts = first_word or (word[0].isupper() and _opens_utterance(sentence, match.start()))
                    tally.free += not (starts or heading or shouted)
                    first_word = False
    return words, measures


def _opens_utterance(sentence: str, start: int) -> bool:
    """Dialogue and a dash open a sentence of their own: `cried the Swallow, "Oh, ..."`, `and saw—Ah!`."""
    if start == 0:
        return True
    before = sentence[start - 1]
    return before == "—" or (before in _OPENING_QUOTES and (start == 1 or sentence[start - 2] in " ([—-"))


def _fold_case(words: dict[str, _Tally]) -> dict[str, tuple[_Tally, tuple[str, ...]]]:
    """Names and acronyms keep their capitals.

    Other capitals fold into the lowercase word (when the book has it, or shouts).
    """
    folded: dict[str, tuple[_Tally, tuple[str, ...]]] = {}
    for word, tally in words.items():
        categories = _case_categories(word, tally, words)
        key = word.lower() if not categories and (word.isupper() or word.lower() in words) else word
        if key in folded:
            tally = folded[key][0].merged(tally)
            categories = folded[key][1] or categories
        folded[key] = (tally, categories)
    return folded


def _case_categories(word: str, tally: _Tally, words: dict[str, _Tally]) -> tuple[str, ...]:
    if word.isupper():
        acronym = len(word) >= 2 and tally.unshouted > 0 and not _ROMAN_UP_TO_49.fullmatch(word)
        return (ACRONYM,) if acronym else ()
    capitalised = word[0].isupper() and word not in _ABBREVIATIONS and not _PRONOUN_I.match(word)
    lowercase = words.get(word.lower())
    return (NAME,) if capitalised and tally.free > (lowercase.count if lowercase else 0) else ()


def _entry(word: str, tally: _Tally, categories: tuple[str, ...]) -> WordEntry:
    _order, number, title, sentence, offset = tally.first
    return WordEntry(word, categories, tally.count, trimmed(sentence, offset), title, number)


def trimmed(sentence: str, offset: int, limit: int = SAMPLE_CHARS) -> str:
    """At most about `limit` characters of the sentence around `offset`, cut between words, marked with "..."."""
    if len(sentence) <= limit:
        return sentence
    start = max(0, min(offset - limit // 3, len(sentence) - limit))
    if start:
        start = sentence.find(" ", start) + 1 or start
    end = start + limit
    space = sentence.rfind(" ", start, end)
    if end < len(sentence) and space > offset:
        end = space
    return ("..." if start else "") + sentence[start:end].strip() + ("..." if end < len(sentence) else "")
