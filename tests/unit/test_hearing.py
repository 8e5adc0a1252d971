"""The verdict on real-world takes: ordinary recognition noise passes, a voice's faults fail with their kind.

Each case is the text a voice was given and what a recognizer wrote back, word by word (timed as a narrator
speaks: tests/support/hearing.py). The faults are those listeners report of generative narration: a sentence
left out after a quotation mark, a phrase said twice, a name garbled, a last clause cut off, garbage inside an
otherwise perfect chunk, a take whose length does not fit its text.
"""

from __future__ import annotations

import json

import pytest
from rapidfuzz import fuzz

from tests.support.hearing import timed
from worker.fish.heard import Heard
from worker.hearing import Segment, Thresholds, Transcript, Verdict, judge

PARK = "He sat on the bench in the park and waited for the rain to stop before he walked home."
TRAIN = (
    "The morning train left the valley at seven, as it had every day for forty years. Margaret took her usual "
    "seat by the window, set her basket on her knees and watched the river slide past the orchards. She had "
    "made this journey so many times that she no longer saw the hills; she counted the stations instead, "
    "the way her father had taught her when she was a small girl. At the third stop a young man climbed "
    "aboard with a violin case and a paper bag of oranges. He asked whether the seat beside her was free, "
    "and when she nodded he sat down carefully, as if the train might object. For a while neither of them "
    "spoke. Then he offered her an orange, and she laughed, because her father had done exactly the same "
    "thing on this very line, long before the war, when the carriages were still painted green."
)


def plain(text: str) -> list[str]:
    """The text as a recognizer that heard every word writes it: lower case, no punctuation."""
    return ["".join(c for c in w if c.isalnum() or c == "'").lower() for w in text.split()]


NOISE = [
    pytest.param("They left their coats by the door.", "they left there coats by the door", "en", id="homophone"),
    pytest.param(PARK, PARK.replace("on the bench", "in the bench"), "en", id="misheard-short-word"),
    pytest.param(
        "In 1984 she was 21 and paid $5.50 for 3 tickets, 50% off. She counted twenty-one sheep.",
        "in nineteen eighty four she was twenty one and paid five dollars and fifty cents for three tickets "
        "fifty percent off she counted 21 sheep",
        "en",
        id="numbers-as-words",
    ),
    pytest.param(
        "Mr. and Mrs. Dursley, of number four, Privet Drive, were proud to say that they were perfectly normal.",
        "Mister and Missus Dursley of number four Privet Drive were proud to say that they were perfectly normal",
        "en",
        id="mister",
    ),
    pytest.param(
        "I don't think it's going to rain, and we can't stay.",
        "I do not think it is going to rain and we cannot stay",
        "en",
        id="contractions",
    ),
    pytest.param(
        'WAIT! "Who\'s there?" she cried—softly.', "wait who's there she cried softly", "en", id="punctuation"
    ),
    pytest.param(
        "It was a well-known, old-fashioned remedy for the to-do list.",
        "it was a well known old fashioned remedy for the todo list",
        "en",
        id="hyphens",
    ),
    pytest.param(
        "The colour of the theatre's centre favoured grey.",
        "the color of the theater's center favored gray",
        "en",
        id="british-american",
    ),
    pytest.param(
        TRAIN,
        " ".join(w for k, w in enumerate(plain(TRAIN)) if k not in (20, 101)),
        "en",
        id="two-words-dropped-in-a-long-chunk",
    ),
    pytest.param(
        "« Il a payé 1 000 € le 1er mai », dit M. Dupont. « C'est 3,5 % de plus. »",
        "Il a payé mille euros le premier mai dit monsieur Dupont c'est trois virgule cinq pour cent de plus",
        "fr",
        id="french-numbers-and-quotes",
    ),
    pytest.param(
        "„Am 3. Mai 1984 kam Dr. Müller“, sagte sie, „mit 3,5 Prozent.“",
        "am dritten Mai 1984 kam Doktor Müller sagte sie mit drei Komma fünf Prozent",
        "de",
        id="german-numbers-and-quotes",
    ),
]


@pytest.mark.parametrize(("text", "heard", "language"), NOISE)
def test_recognition_noise_passes(text: str, heard: str, language: str) -> None:
    verdict = judge(text, timed(heard.split()), language=language)
    assert verdict.passed, verdict.findings


FAULTS = [
    pytest.param(
        '"I will come," she said. "But not today." Then she closed the door behind her.',
        "i will come she said then she closed the door behind her",
        "en",
        "dropped",
        '"But not today."',
        id="sentence-left-out-after-a-quotation-mark",
    ),
    pytest.param(
        "She opened the door and walked into the dark room.",
        "she opened the door and walked she opened the door and walked into the dark room",
        "en",
        "repeated",
        "She opened the door and walked",
        id="phrase-said-twice",
    ),
    pytest.param(
        "Then Aurelio handed the letter to his sister and left.",
        "then oh well you handed the letter to his sister and left",
        "en",
        "garbled",
        "Aurelio",
        id="name-garbled",
    ),
    pytest.param(
        "She looked out at the sea, and then she quietly closed the heavy window.",
        "she looked out at the sea and then she",
        "en",
        "cut",
        "quietly closed the heavy window.",
        id="last-clause-cut-off",
    ),
    pytest.param(
        "« Je viendrai demain. » Elle sourit. « Mais pas ce soir. » Puis elle partit sans un mot.",
        "je viendrai demain elle sourit puis elle partit sans un mot",
        "fr",
        "dropped",
        "Mais pas ce soir.",
        id="french-quoted-sentence-left-out",
    ),
    pytest.param(
        "„Komm morgen wieder“, sagte der Alte und schloss langsam die schwere Tür.",
        "komm morgen wieder sagte der alte und schloss langsam die schloss langsam die schwere tür",
        "de",
        "repeated",
        "schloss langsam die",
        id="german-phrase-said-twice",
    ),
]


@pytest.mark.parametrize(("text", "heard", "language", "kind", "quoted"), FAULTS)
def test_a_voices_fault_fails_with_its_kind(text: str, heard: str, language: str, kind: str, quoted: str) -> None:
    verdict = judge(text, timed(heard.split()), language=language)
    assert not verdict.passed
    assert [f.kind for f in verdict.findings] == [kind], verdict.findings
    assert quoted in verdict.findings[0].text


def test_a_left_out_sentence_is_placed_in_the_silence_between_the_words_around_it() -> None:
    heard = timed("i will come she said then she closed the door behind her".split())
    (found,) = judge('"I will come," she said. "But not today." Then she closed the door.', heard).findings
    said, then = heard.segments[4], heard.segments[5]
    assert (found.start, found.end) == (said.end, then.start) and found.heard == ""


def test_a_garbled_name_is_timed_by_the_words_heard_for_it() -> None:
    heard = timed("then oh well you handed the letter to his sister".split())
    (found,) = judge("Then Aurelio handed the letter to his sister.", heard).findings
    assert found.heard == "oh well you"
    assert (found.start, found.end) == (heard.segments[1].start, heard.segments[3].end)


def test_garbage_inside_a_long_chunk_fails_though_one_overall_ratio_stays_high() -> None:
    words = plain(TRAIN)
    garbage = "and the lamp of silver under fallen bridges kept singing about nothing in particular at".split()
    heard_words = words[:60] + garbage + words[75:]
    assert len(words) >= 150 and len(garbage) == 15
    # the single fuzzy ratio one open-source renderer relies on stays high: this take would pass there
    assert fuzz.ratio(" ".join(words), " ".join(heard_words)) > 90
    heard = timed(heard_words)
    verdict = judge(TRAIN, heard)
    assert not verdict.passed
    (found,) = verdict.findings
    assert found.kind == "garbled" and found.heard == " ".join(garbage)
    assert (found.start, found.end) == (heard.segments[60].start, heard.segments[74].end)
    assert verdict.measures.longest_run >= 14


def test_a_lexicons_respelling_is_compared_as_the_word_the_recognizer_writes() -> None:
    text = "Then Her-my-oh-nee smiled at Nkechi and left the room without a word."
    heard = timed("then Hermione smiled at Nkechi and left the room without a word".split())
    assert not judge(text, heard).passed
    assert judge(text, heard, lexicon=[("Hermione", "Her-my-oh-nee")]).passed


def test_a_passage_said_twice_is_a_repeat_and_a_babble_is_inserted_words() -> None:
    words = plain(TRAIN)
    repeated = judge(TRAIN, timed(words[:50] + words[30:50] + words[50:]))
    assert [f.kind for f in repeated.findings] == ["repeated"]
    assert repeated.findings[0].heard == " ".join(words[30:50] * 2)
    babble = "river stone garden morning silver window brother quickly under always between river".split()
    inserted = judge(TRAIN, timed(words[:50] + babble + words[50:]))
    assert [(f.kind, f.heard) for f in inserted.findings] == [("inserted", " ".join(babble))]


def test_sentences_dropped_one_after_the_other_are_one_finding() -> None:
    text = "He came home. She was asleep. The dog barked twice. Then the lights went out."
    (found,) = judge(text, timed("he came home then the lights went out".split())).findings
    assert found.kind == "dropped" and found.text == "She was asleep. The dog barked twice."


def test_a_take_far_too_long_for_its_text_fails_on_pace() -> None:
    verdict = judge(PARK, timed(plain(PARK), per_letter=0.5))
    assert [f.kind for f in verdict.findings] == ["pace"]
    assert verdict.measures.seconds_per_letter > Thresholds().seconds_per_letter[1]


def test_a_take_far_too_short_for_its_text_fails_on_pace() -> None:
    heard = timed(plain(PARK), per_letter=0.001)
    squeezed = Transcript(heard.text, 1.0, heard.segments)
    assert [f.kind for f in judge(PARK, squeezed).findings] == ["pace"]


def test_a_long_silence_inside_a_take_is_found_where_it_is() -> None:
    heard = timed(plain(PARK), silence_after={7: 6.0})  # after "park"
    (found,) = judge(PARK, heard).findings
    assert found.kind == "pace" and found.text == "park and"
    assert (found.start, found.end) == (heard.segments[7].end, heard.segments[8].start)


def test_an_unheard_take_is_dropped_whole() -> None:
    verdict = judge(PARK, Transcript("", 5.0))
    assert [f.kind for f in verdict.findings] == ["dropped"] and verdict.findings[0].text == PARK
    assert verdict.score == 0.0


def test_the_best_of_several_takes_is_a_passing_one_with_the_highest_score() -> None:
    takes = [
        judge(PARK, timed(plain(PARK)[:-6])),  # cut
        judge(PARK, timed(plain(PARK)[:3] + ["uh"] + plain(PARK)[3:])),  # a word added: passes
        judge(PARK, timed(plain(PARK))),  # perfect
    ]
    assert [t.passed for t in takes] == [False, True, True]
    assert max(takes, key=Verdict.rank) is takes[2] and takes[2].score == 1.0


def test_the_verdict_reads_back_from_its_json_form() -> None:
    verdict = judge(TRAIN, timed(plain(TRAIN)[:-5]))
    data = json.loads(json.dumps(verdict.to_json()))
    assert data["verdict"] == "fail" and data["findings"][0]["kind"] == "cut"
    assert Verdict.from_json(data) == verdict


def test_a_transcript_reads_from_the_recognizers_answer() -> None:
    heard = timed(["Hello,", "world."])
    assert Transcript.from_json(json.loads(json.dumps(heard.to_json()))) == heard
    assert Transcript.from_json({"text": "hi", "duration": 0}).seconds == 0.0
    # what the Fish client stores of a take it heard (times already in seconds) reads as the same transcript
    fish = Heard("Hello, world.", (("Hello,", 0.35, 0.88), ("world.", 0.98, 1.49)), 2.0, 2, 0.3)
    assert Transcript.from_json(fish.to_json()) == Transcript(
        "Hello, world.", 2.0, (Segment("Hello,", 0.35, 0.88), Segment("world.", 0.98, 1.49))
    )
