"""A paragraph's sentences: the spans read-along highlights and subtitle cues show."""

from __future__ import annotations

import pytest

from worker.text.sentences import sentence_spans, sentences


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        (
            'Mr. Smith went to Washington. He said: "Go!" Then he left... Why? Because.',
            "en",
            ["Mr. Smith went to Washington.", 'He said: "Go!"', "Then he left...", "Why?", "Because."],
        ),
        (
            '"Are you there?" she asked. "Yes," said J. R. Tolkien. It was 5 p.m. on Monday.',
            "en",
            ['"Are you there?" she asked.', '"Yes," said J. R. Tolkien.', "It was 5 p.m. on Monday."],
        ),
        ("Er kam am 3. Mai. Dann ging er.", "de", ["Er kam am 3. Mai.", "Dann ging er."]),
        ("Sr. García llegó. Se fue.", "es", ["Sr. García llegó.", "Se fue."]),
        ("今日は晴れです。明日は雨でしょう！", "ja", ["今日は晴れです。", "明日は雨でしょう！"]),
        ("No full stop at the end", "en", ["No full stop at the end"]),
        ("", "en", []),
    ],
)
def test_sentences_are_grammatical_not_the_chunkers_pieces(text: str, language: str, expected: list[str]) -> None:
    assert sentences(text, language=language) == expected


def test_spans_index_the_paragraph_and_leave_the_spaces_between_out() -> None:
    text = "  One.   Two!  "
    spans = sentence_spans(text)

    assert [text[a:b] for a, b in spans] == ["One.", "Two!"]
    assert spans == [(2, 6), (9, 13)]
