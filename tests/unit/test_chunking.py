import pytest

from worker.text.chunking import split_text


def sizes(chunks: list[str]) -> list[int]:
    return [len(c.encode("utf-8")) for c in chunks]


def test_short_text_is_one_chunk() -> None:
    assert split_text("  Hello there.  ", max_bytes=100) == ["Hello there."]


def test_paragraphs_are_packed_until_the_budget() -> None:
    text = "One. Two.\n\nThree. Four.\n\nFive."
    assert split_text(text, max_bytes=1000) == ["One. Two.\n\nThree. Four.\n\nFive."]
    assert split_text(text, max_bytes=18) == ["One. Two.", "Three. Four.", "Five."]


def test_sentences_split_before_clauses() -> None:
    text = "The first sentence is here. The second one, with a clause, follows it."
    chunks = split_text(text, max_bytes=45)
    assert chunks[0] == "The first sentence is here."
    assert all(size <= 45 for size in sizes(chunks))
    assert " ".join(chunks) == text


def test_long_sentence_splits_at_clauses_then_words_never_mid_word() -> None:
    words = [f"word{i}" for i in range(60)]
    text = ", ".join(words[:30]) + " " + " ".join(words[30:]) + "."
    chunks = split_text(text, max_bytes=50)
    assert all(size <= 50 for size in sizes(chunks))
    rejoined = " ".join(chunks).replace(",", "").split()
    assert rejoined == [w for w in text.replace(",", "").replace(".", "").split()][:-1] + ["word59."]


def test_multibyte_text_respects_the_byte_budget() -> None:
    text = "Ünïcödé façade café. " * 40
    chunks = split_text(text, max_bytes=64)
    assert all(size <= 64 for size in sizes(chunks))
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")


def test_a_single_word_over_the_budget_is_cut() -> None:
    chunks = split_text("x" * 50, max_bytes=20)
    assert chunks == ["x" * 20, "x" * 20, "x" * 10]


def test_deterministic() -> None:
    text = ("Alpha beta. Gamma, delta; epsilon! " * 50 + "\n\n") * 3
    assert split_text(text, max_bytes=200) == split_text(text, max_bytes=200)


def test_budget_too_small_is_refused() -> None:
    with pytest.raises(ValueError):
        split_text("text", max_bytes=4)
