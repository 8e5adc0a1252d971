"""Both sides of a take normalized alike for comparison (worker/hearing/words.py), and aligned (align.py)."""

from __future__ import annotations

import pytest

from tests.support.hearing import timed
from worker.hearing.align import align
from worker.hearing.words import heard, written


def tokens(text: str, language: str = "en") -> list[str]:
    return list(written(text, language).tokens)


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("In 1984.", "in nineteen eighty four"),  # a year, read as one
        ("The 21st and the 3rd", "the twenty first and the third"),
        ("It cost $5.50", "it cost five dollars and fifty cents"),
        ("£1 or $1", "one pound or one dollar"),
        ("50% off", "fifty percent off"),
        ("3.14 and 1,000", "three point one four and one thousand"),
        ("the 1990s", "the nineteen nineties"),
        ("at 10:45", "at ten forty five"),
        ("Agent 007", "agent zero zero seven"),
    ],
)
def test_english_numbers_are_spoken(text: str, said: str) -> None:
    assert tokens(text) == said.split()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("I don't know, and I can't.", "i do not know and i can not"),
        ("It won't. It's John's. We're here; I'm done.", "it will not it is johns we are here i am done"),
        ("Mr. and Mrs. Smith met Dr. Jones", "mister and missus smith met doctor jones"),
        ("St. Paul lives on Baker St. now", "saint paul lives on baker street now"),
        ("a well-known to-do, and/or more…", "a well known to do and or more"),
        ("“Quoted,” she said—‘softly’ (twice)!", "quoted she said softly twice"),
        ("WAIT! The Colour.", "wait the colour"),
        ("ﬁne ① café", "fine one café"),  # NFKC: the ligature and the circled digit are plain
    ],
)
def test_english_words_are_compared_plainly(text: str, said: str) -> None:
    assert tokens(text) == said.split()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "« Il a payé 1 000 € le 1er mai », dit M. Dupont.",
            "il a payé mille euros le premier mai dit monsieur dupont",
        ),
        ("Soit 3,14 %, en 1984.", "soit trois virgule quatorze pour cent en mille neuf cent quatre vingt quatre"),
        ("L'homme est arrivé !", "lhomme est arrivé"),
    ],
)
def test_french_numbers_and_quotation_marks(text: str, said: str) -> None:
    assert tokens(text, "fr-FR") == said.split()


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "„Am 3. Mai 1984 kam Dr. Müller“, sagte sie.",
            "am dritte mai neunzehnhundertvierundachtzig kam doktor müller sagte sie",
        ),
        ("Mit 3,5 Prozent, z.B. 1.000 Euro.", "mit drei komma fünf prozent zum beispiel eintausend euro"),
        ("Es war 1984. Dann kam er.", "es war neunzehnhundertvierundachtzig dann kam er"),
    ],
)
def test_german_numbers_ordinals_and_quotation_marks(text: str, said: str) -> None:
    assert tokens(text, "de") == said.split()


def test_an_unknown_language_keeps_digits_as_digits_on_both_sides() -> None:
    assert tokens("He paid 1,000 dollars in 2024.", "") == ["he", "paid", "1000", "dollars", "in", "2024"]
    assert heard(timed(["1000", "dollars"]), "").tokens == ("1000", "dollars")


def test_chinese_and_japanese_are_compared_character_by_character() -> None:
    said = written("我今天很高兴！你呢？", "zh")
    assert said.tokens == ("我", "今", "天", "很", "高", "兴", "你", "呢")
    assert said.sentence == (0, 1)


def test_each_token_knows_its_word_and_each_word_its_place_in_the_text() -> None:
    text = 'She paid $5 to Mr. Smith. "Thanks!"'
    said = written(text, "en")
    assert said.tokens == ("she", "paid", "five", "dollars", "to", "mister", "smith", "thanks")
    assert said.origin == (0, 1, 2, 2, 3, 4, 5, 6)
    assert said.quote(2, 5) == "$5 to Mr. Smith."
    assert said.sentence == (0, 0, 0, 0, 0, 0, 1)


def test_heard_tokens_keep_their_segments_times() -> None:
    transcript = timed(["Twenty-one", "sheep."])
    got = heard(transcript, "en")
    assert got.tokens == ("twenty", "one", "sheep") and got.origin == (0, 0, 1)
    assert got.times[0] == (transcript.segments[0].start, transcript.segments[0].end)


def test_sentences_end_after_a_quotation_but_not_after_an_abbreviation() -> None:
    said = written('"I will come," she said. "But not today." Mr. Smith left. "Hello!" he cried.', "en")
    by_sentence: dict[int, list[str]] = {}
    for word, sentence in zip(said.words, said.sentence):
        by_sentence.setdefault(sentence, []).append(word)
    assert [" ".join(w) for w in by_sentence.values()] == [
        '"I will come,"',
        "she said.",
        '"But not today."',
        "Mr. Smith left.",
        '"Hello!"',
        "he cried.",
    ]


def test_names_are_words_capitalized_where_no_sentence_begins() -> None:
    said = written("Then Hermione met Mr. Smith. Hermione laughed. The wind was cold. I said so.", "en")
    assert sorted(said.words[i] for i in said.names) == ["Hermione", "Hermione", "Smith."]
    assert written("Dann kam der Hund mit Anna.", "de").names == frozenset()  # German capitalizes every noun
    french = written("« Mais non », dit Pierre.", "fr")
    assert [french.words[i] for i in french.names] == ["Pierre."]  # "Mais" opens a quotation


def test_the_alignment_forgives_spelling_and_words_written_apart() -> None:
    text = "the colour of the well known sky is an e mail".split()
    got = "the color of the wellknown sky is an email".split()
    steps = align(text, got, near=0.8)
    assert [s.kind for s in steps] == ["equal"]


def test_the_alignment_pairs_substitutions_and_finds_what_is_missing_or_added() -> None:
    text = "she opened the door and walked in slowly".split()
    got = "he opened a door and walked in the slowly hall".split()
    steps = [
        (s.kind, text[s.text_start : s.text_end], got[s.heard_start : s.heard_end]) for s in align(text, got, near=0.8)
    ]
    assert steps == [
        ("equal", ["she", "opened"], ["he", "opened"]),  # "she"/"he": 0.8 similar
        ("substituted", ["the"], ["a"]),
        ("equal", ["door", "and", "walked", "in"], ["door", "and", "walked", "in"]),
        ("inserted", [], ["the"]),
        ("equal", ["slowly"], ["slowly"]),
        ("inserted", [], ["hall"]),
    ]
