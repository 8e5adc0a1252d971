"""The word finder behind `narrate words`: names, uncommon words, acronyms and numbers with units, found in the
chapters chosen."""

from __future__ import annotations

import time

import pytest

from producer.readers.booktext import BookText, ChapterText
from producer.readers.selection import ChapterChoice
from producer.readers.words import (
    ACRONYM,
    NAME,
    NUMBER,
    UNCOMMON,
    NotALanguageTag,
    NoWordList,
    WordEntry,
    common_word_test,
    find_words,
    numbered_chapters,
    sentences,
    trimmed,
    word_list_language,
)
from tests.support.privet_drive import PRIVET_DRIVE, SECOND
from worker.errors import BadInput

RARE = {"hogwarts", "zounds", "quidditch", "weasley", "dursley", "rowling", "privet"}


def is_common(word: str) -> bool:
    return word.lower() not in RARE


def found(text: str = PRIVET_DRIVE, *, common=is_common) -> dict[str, WordEntry]:
    return {
        e.word: e
        for e in find_words(
            [(2, ChapterText("The Boy Who Lived", text)), (5, ChapterText("Diagon Alley", SECOND))], is_common=common
        )
    }


def test_capitalised_words_past_a_sentence_start_are_names() -> None:
    words = found()
    assert {"Dursley", "Hermione", "Hogwarts", "Potters", "Weasley", "Privet", "Drive", "Rowling", "Harry"} <= set(
        words
    )
    assert NAME in words["Hermione"].categories and UNCOMMON not in words["Hermione"].categories
    assert words["Hogwarts"].categories == (NAME, UNCOMMON)


def test_sentence_starts_do_not_make_names() -> None:
    words = found()
    # "He", "Then", "The" and "Quidditch" only start sentences; "Well" opens a quotation; "Mr" is an abbreviation
    assert not {"He", "Then", "The", "Well", "Look", "Mr", "J", "K"} & set(words)
    assert words["Quidditch"].categories == (UNCOMMON,)  # capitalised only by its place, listed for being rare
    assert words["Zounds"].categories == (UNCOMMON,)


def test_a_capitalised_word_seen_more_often_in_lowercase_is_no_name() -> None:
    words = found("In the tale Why the Chimes Rang, they asked why. And why not? Then why again.")
    assert "Why" not in words
    assert {"Chimes", "Rang"} <= set(words)


def test_possessives_count_as_the_word() -> None:
    words = found()
    assert "Hermione's" not in words and words["Hermione"].count == 3
    assert words["Weasley"].count == 1 and "Weasleys" in words  # "the Weasleys' car" is the family, a word of its own


def test_acronyms_but_not_roman_numerals_or_shouting() -> None:
    words = found()
    assert words["BBC"].categories == (ACRONYM,) and words["BBC"].count == 2
    assert words["NASA"].categories == (ACRONYM,)
    assert not {"IV", "CHAPTER", "THE", "END"} & set(words)


def test_numbers_with_units() -> None:
    words = found()
    for measure in ("5 km", "12kg", "3.5 GHz", "£20", "10%"):
        assert words[measure].categories == (NUMBER,), measure
    assert not {"169", "GHz", "km"} & set(words)  # a bare number says itself; a unit belongs to its number


def test_count_sample_and_chapter_of_first_use() -> None:
    words = found()
    hermione = words["Hermione"]
    assert hermione.sample == "He thought of the Potters and of Hermione, who was at Hogwarts."
    assert (hermione.chapter, hermione.chapter_number) == ("The Boy Who Lived", 2)
    rowling = words["Rowling"]
    assert (rowling.count, rowling.chapter, rowling.chapter_number) == (1, "Diagon Alley", 5)
    assert rowling.sample == "The Dursleys lived on Privet Drive, wrote J. K. Rowling."


def test_most_used_first_then_by_word() -> None:
    entries = find_words([(1, ChapterText("One", PRIVET_DRIVE + "\n\n" + SECOND))], is_common=is_common)
    keys = [(-e.count, e.word.casefold()) for e in entries]
    assert keys == sorted(keys)
    assert entries[0].word in ("Harry", "Hermione")


def test_without_a_word_list_the_other_categories_remain() -> None:
    words = found(common=None)
    assert "Quidditch" not in words and "Zounds" not in words
    assert words["Hogwarts"].categories == (NAME,) and "NASA" in words and "5 km" in words


def test_languages_without_letter_case_have_no_names_or_acronyms() -> None:
    assert find_words([(1, ChapterText("第一章", "哈利在霍格沃茨见到了赫敏。赫敏笑了。"))], is_common=None) == []


def test_german_capitals_are_nouns_not_names() -> None:
    text = "Der Hund von Herrn Müller bellt. Dann lief der Hund zu Müller."
    words = {
        e.word: e
        for e in find_words([(1, ChapterText("Eins", text))], is_common=lambda w: w != "Müller", language="de-AT")
    }
    assert words == {"Müller": words["Müller"]} and words["Müller"].categories == (UNCOMMON,)


def test_sentences_end_at_punctuation_but_not_after_titles_or_initials() -> None:
    assert list(sentences('Mr. Smith met J. R. Hartley. "Hello!" he said. Why? Because.')) == [
        "Mr. Smith met J. R. Hartley.",
        '"Hello!"',
        "he said.",
        "Why?",
        "Because.",
    ]


def test_long_samples_are_trimmed_around_the_word() -> None:
    sentence = " ".join(["word"] * 60) + " Hermione " + " ".join(["word"] * 60)
    sample = trimmed(sentence, sentence.index("Hermione"), 80)
    assert "Hermione" in sample and sample.startswith("...") and sample.endswith("...") and len(sample) <= 86


def test_chapters_keep_their_numbers_in_the_book() -> None:
    book = BookText(
        "b.epub",
        "B",
        "",
        "en",
        None,
        "",
        [ChapterText("Contents", "x", matter="contents"), ChapterText("One", "y"), ChapterText("Two", "z")],
    )
    assert [n for n, _ in numbered_chapters(book, ChapterChoice())] == [2, 3]
    assert [n for n, _ in numbered_chapters(book, ChapterChoice.parse("3"))] == [3]
    with pytest.raises(BadInput, match="past its last chapter"):
        numbered_chapters(book, ChapterChoice.parse("4"))


def test_a_megabyte_is_read_in_well_under_a_few_seconds() -> None:
    paragraph = PRIVET_DRIVE.replace("Hermione", "Hermione{n}") + "\n\n"
    text = "".join(paragraph.replace("{n}", chr(0x61 + n % 26) * (1 + n // 26)) for n in range(2600))
    assert len(text) > 1_000_000
    check = common_word_test("en")
    started = time.perf_counter()
    entries = find_words([(1, ChapterText("Long", text))], is_common=check)
    assert time.perf_counter() - started < 5
    assert len([e for e in entries if e.word.startswith("Hermione")]) == 2600


def test_wordfreq_lists_by_language_tag() -> None:
    assert (
        word_list_language("en-US") == "en" and word_list_language("pt-BR") == "pt" and word_list_language("fr") == "fr"
    )
    with pytest.raises(NoWordList, match="no common-word list"):
        word_list_language("tlh")  # Klingon: nearest is English, too far to use
    with pytest.raises(NoWordList, match="without spaces"):
        word_list_language("zh-CN")
    with pytest.raises(NotALanguageTag):
        word_list_language("not a tag!")
    english, french = common_word_test("en"), common_word_test("fr")
    assert english("the") and english("Weasley's") is False
    assert french("bonjour") and not english("bonjour")
    assert common_word_test("en", rarer_than=0)("Stumpinghame")
