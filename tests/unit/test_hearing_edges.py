"""The verdict at its edges, found through the emulator loop: a long last word lost is a cut, one misheard is
not; a word heard as syllables with nothing of it is garbled, a recognizer's near miss is not."""

from __future__ import annotations

import pytest

from tests.support.hearing import timed
from tests.unit.test_hearing import PARK, plain
from worker.hearing import Thresholds, judge

SPEAK = "The boat came in after dark, its sails torn open and the crew asleep on the deck below."


def kinds(text: str, heard: list[str], **limits: object) -> list[str]:
    verdict = judge(text, timed(heard), language="en", limits=Thresholds(**limits))  # type: ignore[arg-type]
    return [finding.kind for finding in verdict.findings]


def test_a_long_last_word_lost_is_a_cut() -> None:
    assert kinds(SPEAK, plain(SPEAK)[:-1]) == ["cut"]


def test_a_short_last_word_lost_is_a_recognizers_miss() -> None:
    text = SPEAK.replace("on the deck below.", "on the deck of it.")
    assert kinds(text, plain(text)[:-1]) == []


def test_a_long_last_word_misheard_is_no_cut() -> None:
    assert kinds(SPEAK, [*plain(SPEAK)[:-1], "belo"]) == []


@pytest.mark.parametrize("said, mumbled", [("dark", "tutune"), ("sails", "kimovapa"), ("crew", "mipgra")])
def test_a_word_heard_as_syllables_unlike_it_is_garbled(said: str, mumbled: str) -> None:
    heard = [mumbled if word == said else word for word in plain(SPEAK)]
    assert kinds(SPEAK, heard) == ["garbled"]


@pytest.mark.parametrize("said, slip", [("dark", "bark"), ("sails", "sales"), ("deck", "neck"), ("crew", "crow")])
def test_a_near_miss_of_a_word_passes(said: str, slip: str) -> None:
    heard = [slip if word == said else word for word in plain(SPEAK)]
    assert kinds(SPEAK, heard) == []


def test_the_garbled_word_check_is_a_setting() -> None:
    heard = ["tutune" if word == "park" else word for word in plain(PARK)]
    assert kinds(PARK, heard) == ["garbled"]
    assert kinds(PARK, heard, stranger_similarity=0.0) == []


def test_a_short_name_heard_as_long_syllables_is_garbled() -> None:
    text = "When the evening came all the other tin soldiers were put into their box, and the people went to bed."
    heard = ["miptrelmip" if word == "tin" else word for word in plain(text)]
    assert kinds(text, heard) == ["garbled"]


def test_a_short_slip_compared_in_a_longer_form_is_still_a_slip() -> None:
    text = "Then she lifted one leg so high that the soldier could not see it at all."
    heard = ["st" if word == "so" else word for word in plain(text)]  # "st" is compared as "saint"
    assert kinds(text, heard) == []
