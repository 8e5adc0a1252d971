import pytest

from worker.text.normalize import normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ﬁne ﬂour", "fine flour"),  # ligatures
        ("ＡＢＣ１２３！", "ABC123!"),  # full-width forms
        ("one\r\ntwo\rthree", "one two three"),
        ("zero\u200bwidth\u200c\u200d\u2060\ufeff", "zerowidth"),
        ("hy\u00adphen", "hyphen"),
        ("bell\x07 and\x1b escape\x7f", "bell and escape"),
        ("tab\there", "tab here"),
        ("“double” „low‟ «angle» 5″", '"double" "low" "angle" 5"'),
        ("‘single’ ‚low‛ 5′", "'single' 'low' 5'"),
        ("wait…", "wait..."),
        ("em—dash and en–dash", "em—dash and en–dash"),
    ],
)
def test_characters(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_unspeakable_characters_are_removed() -> None:
    assert normalize_text("smile 😀 thumbs 👍🏽 heart ❤️ keycap 1️⃣") == "smile thumbs heart keycap 1"
    assert normalize_text("private \ue000 use \U000f0001 unassigned \u0378 ©") == "private use unassigned"
    assert normalize_text("lone \ud800 surrogate") == "lone surrogate"


def test_speakable_characters_are_kept() -> None:
    text = "Café naïve Ελληνικά 日本語 ١٢٣ $5 + 3 = 8 € £ ± ½ (a) [b] {c} ¿qué? ¡sí!"
    assert normalize_text(text) == text.replace("½", "1⁄2")  # NFKC spells out vulgar fractions


def test_removing_a_character_does_not_leave_text_unnormalized() -> None:
    # "e" + zero-width space + combining acute: once the space is gone the two compose.
    assert normalize_text("cafe\u200b\u0301") == "café"


def test_whitespace_and_paragraphs() -> None:
    raw = "  First   line\nwrapped here.  \n\n\n\n   Second\u00a0\u3000paragraph \n \t \nThird\u2029Fourth\u2028line"
    assert normalize_text(raw) == "First line wrapped here.\n\nSecond paragraph\n\nThird\n\nFourth line"


@pytest.mark.parametrize("raw", ["", "   ", "\n\n\t \r\n", "\u200b\ufeff 😀"])
def test_empty_input_gives_empty_output(raw: str) -> None:
    assert normalize_text(raw) == ""


MESSY = (
    "\ufeff  “Chapter ﬁve”…\r\n\r\n\tShe said: ‘hello’ —\u00a0and  left 😀.\u200b\n"
    "Line wrap\u00ad continues.\r\r\r« Fin »\x0c\u2029next ☃︎ page cafe\u200b\u0301 ＡＢ  "
)


def test_idempotent_and_deterministic_on_a_messy_sample() -> None:
    once = normalize_text(MESSY)
    assert once == normalize_text(MESSY)
    assert normalize_text(once) == once
    assert once == (
        '"Chapter five"...\n\nShe said: \'hello\' — and left . Line wrap continues.\n\n" Fin "\n\nnext page café AB'
    )


def test_paragraph_structure_is_preserved() -> None:
    paragraphs = ["One sentence. Another.", "Second paragraph.", "Third."]
    assert normalize_text("\n\n".join(paragraphs)).split("\n\n") == paragraphs
    assert normalize_text("a\nb\n\nc").split("\n\n") == ["a b", "c"]
