"""Lexicon regular expressions run on RE2: hostile patterns finish, backtracking constructs are refused by line,
and every match is the one Python's `re` would give."""

from __future__ import annotations

import random
import re

import pytest

from worker.text.lexicon import Entry, Lexicon
from worker.text.lexicon_files import LexiconError, read_lexicon
from worker.text.lexicon_regex import RegexFinder, Subject

# The lookarounds whole-word entries had on Python's engine: the reference the RE2 finder must agree with.
_WORD_START = r"(?<!\w)(?<!\w['’])"
_WORD_END = r"(?!\w)(?!['’](?!s\b)\w)"


@pytest.mark.timeout(10)
@pytest.mark.parametrize("whole_word", ["true", "false"])
def test_a_catastrophic_pattern_over_a_long_line_finishes(whole_word: str) -> None:
    # On Python's engine this pattern takes about 18 s per 44 characters without a ";": 100 KB would never end.
    yaml = f"Hermione: Hermy\n'(\\w+\\s?)+;': {{say: list, regex: true, whole_word: {whole_word}}}\n"
    lexicon = read_lexicon(yaml.encode(), name="a.yaml")
    line = "Hermione reads aloud " * 5000
    assert lexicon.apply(line).text == "Hermy reads aloud " * 5000
    assert lexicon.apply("one two; three").text == "list three"


@pytest.mark.timeout(10)
def test_one_long_word_does_not_stall_the_url_guard() -> None:
    # The guard that keeps entries out of URLs and e-mail addresses took 30 s on a 40,000-letter word.
    assert Lexicon([Entry("Ron", "Ronn")]).apply("Ron " + "a" * 200_000).text == "Ronn " + "a" * 200_000
    assert Lexicon([Entry("Ron", "Ronn")]).apply("Ron wrote to ron@ron.org").text == "Ronn wrote to ron@ron.org"


@pytest.mark.parametrize(
    ("pattern", "construct"),
    [
        ("Dr(?=\\.)", "lookahead"),
        ("(?<!Mr)Smith", "negative lookbehind"),
        ("(\\w)\\1", "a backreference"),
        ("(?P<x>a)(?P=x)", "a backreference"),
        ("(?>ab)c", "an atomic group"),
        ("a*+b", "a possessive quantifier"),
        ("\\bDr", "a word boundary"),
        ("[\\W]x", "inside"),
    ],
)
def test_constructs_that_need_backtracking_are_refused_with_the_line(pattern: str, construct: str) -> None:
    yaml = f"Hermione: Hermy\n'{pattern}': {{say: x, regex: true}}\n"
    with pytest.raises(LexiconError, match=rf"a\.yaml:2: .* is not a valid regular expression \(.*{construct}.*\)"):
        read_lexicon(yaml.encode(), name="a.yaml")


def test_classes_keep_their_unicode_meaning_and_groups_expand() -> None:
    yaml = (
        "'Dr\\.\\s+(?P<name>\\w+)': {say: 'Doctor \\g<name>', regex: true}\n"
        "'(\\d+)km': {say: '\\1 kilometres', regex: true}\n"
    )
    lexicon = read_lexicon(yaml.encode(), name="a.yaml")
    assert (
        lexicon.apply("Dr. Zoë Łukasz ran ٣km and 12km.").text
        == "Doctor Zoë Łukasz ran ٣ kilometres and 12 kilometres."
    )


def test_matches_are_the_ones_pythons_engine_gives() -> None:
    patterns = [
        r"a",
        r"ab|a",
        r"a+",
        r"'a",
        r"a'",
        r"a'?s?",
        r"\w+",
        r"(a)(b)?",
        r"é+",
        r"[^ ]+",
        r"a.b",
        r"\d+",
        r"x|'x",
        r"(?:a|ab)c?",
        r"Ä",
        r"[\w']+",
        r"s",
        r"\s?a",
    ]
    alphabet = "aabbx 's'.é-É1Ä_äS"
    rng = random.Random(7)
    for _ in range(3000):
        pattern, whole_word, ignore_case = rng.choice(patterns), rng.random() < 0.7, rng.random() < 0.5
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        body = f"{_WORD_START}(?:{pattern}){_WORD_END}" if whole_word else pattern
        python = re.compile(body, re.IGNORECASE if ignore_case else 0)
        expected = [(m.span(), m.groups()) for m in python.finditer(text) if m.end() > m.start()]
        finder = RegexFinder(pattern, ignore_case=ignore_case, whole_word=whole_word)
        assert [(f.span, f.groups) for f in finder.finditer(Subject(text))] == expected, (
            pattern,
            whole_word,
            ignore_case,
            text,
        )
