"""Store-ready books: chapters split under the length limit, opening and closing credits."""

from __future__ import annotations

from producer.readers.booktext import BookText, ChapterText
from producer.submit.bookparts import credits_for, estimated_seconds, split_long_chapters


def paragraphs(count: int, *, words: int = 200) -> str:
    return "\n\n".join(" ".join(f"word{n}" for n in range(words)) for _ in range(count))


def test_a_chapter_past_the_limit_is_split_at_paragraph_boundaries() -> None:
    long = ChapterText("The Long One", paragraphs(60))  # about 1,400 s of speech at the estimate
    short = ChapterText("Short", paragraphs(2))
    parts = split_long_chapters([long, short], max_minutes=10)
    assert [p.title for p in parts][:2] == ["The Long One", "The Long One (part 2)"] and parts[-1].title == "Short"
    assert all(estimated_seconds(p.text) <= 10 * 60 for p in parts)
    assert "\n\n".join(p.text for p in parts[:-1]) == long.text, "nothing lost, nothing cut mid-paragraph"


def test_a_faster_speed_means_fewer_parts() -> None:
    chapter = [ChapterText("Long", paragraphs(60))]
    assert len(split_long_chapters(chapter, max_minutes=10, speed=2.0)) < len(
        split_long_chapters(chapter, max_minutes=10)
    )


def test_a_single_paragraph_longer_than_the_limit_stays_whole() -> None:
    [only] = split_long_chapters([ChapterText("One", paragraphs(1, words=20_000))], max_minutes=10)
    assert only.title == "One"


def test_credits_name_title_author_and_narrator() -> None:
    book = BookText("b.epub", "Dracula", "Bram Stoker", "en", None, "", [ChapterText("One", "Text.")])
    opening, closing = credits_for(book, narrator="narrator-anna")
    assert opening.text == "Dracula.\n\nWritten by Bram Stoker.\n\nNarrated by narrator-anna."
    assert closing.text == "The end.\n\nDracula.\n\nWritten by Bram Stoker."
    anonymous, _ = credits_for(BookText("b.txt", "Notes", "", "", None, "", []), narrator="")
    assert anonymous.text == "Notes."


def test_the_acx_plan_has_credits_parts_and_asks_for_44k() -> None:
    from producer.submit.books import make_plan
    from worker.books.plan import Pauses
    from worker.books.presets import PRESETS
    from worker.contract import ModelVoice, Output
    from worker.settings import Settings

    book = BookText(
        "b.epub",
        "Dracula",
        "Bram Stoker",
        "en",
        None,
        "",
        [ChapterText("Long", paragraphs(800)), ChapterText("End", "Fin.")],
    )
    plan = make_plan(
        book,
        voice=ModelVoice(reference_id="7f92f8afb8ec43bf81429cc1c9199cb1"),
        output=Output(bucket="books", prefix="p", format="mp3"),
        settings=Settings(),
        pauses=Pauses(),
        notify_url=None,
        preset=PRESETS["acx"],
        narrator="anna",
    )
    titles = [c.title for c in plan.chapters]
    assert titles[0] == "Opening credits" and titles[-1] == "Closing credits" and "Long (part 2)" in titles
    assert all(estimated_seconds(" ".join(x.text for x in c.chunks)) <= 120 * 60 for c in plan.chapters)
    assert (plan.synthesis.sample_rate, plan.synthesis.latency, plan.bit_rate, plan.retail_sample_seconds) == (
        44_100,
        "normal",
        192_000,
        (60, 300),
    )
    assert [c.role for c in plan.chapters][:2] == ["opening_credits", "body"]


def planned(text: str, *, fmt: str = "mp3", preset: str = "standard"):  # noqa: ANN201
    from producer.submit.books import make_plan
    from worker.books.plan import Pauses
    from worker.books.presets import PRESETS
    from worker.contract import ModelVoice, Output
    from worker.settings import Settings

    book = BookText(
        "b.epub", "Long", "A", "en", None, "", [ChapterText("Short", "A few words."), ChapterText("Huge", text)]
    )
    return make_plan(
        book,
        voice=ModelVoice(reference_id="7f92f8afb8ec43bf81429cc1c9199cb1"),
        output=Output(bucket="books", prefix="p", format=fmt),
        settings=Settings(),
        pauses=Pauses(),
        notify_url=None,
        preset=PRESETS[preset],
    )


def test_a_chapter_whose_spool_would_not_fit_is_refused_naming_it_and_the_fix() -> None:
    import pytest

    from producer.submit.bookparts import check_spool_fits
    from worker.books.spool import spool_bytes
    from worker.errors import BadInput

    plan = planned(
        paragraphs(40)
    )  # about 60 KB: 66 minutes of speech at the estimate, taken as 83 (speech may run slower)
    seconds = sum(len(c.text.encode()) for c in plan.chapters[1].chunks) / 15 / 0.8
    need = spool_bytes(seconds=seconds, rate=44_100, fmt="mp3", bit_rate=None)
    check_spool_fits(plan, limit_bytes=need)
    with pytest.raises(
        BadInput, match=r"chapter 2 \('Huge'\) may run to 1.4 hours .* NARRATE_SPOOL_LIMIT_BYTES .* split the chapter"
    ):
        check_spool_fits(plan, limit_bytes=need - 1)
    # WAV chapters take more disk than MP3 for the same speech.
    with pytest.raises(BadInput):
        check_spool_fits(planned(paragraphs(40), fmt="wav"), limit_bytes=need)


def test_the_spool_estimate_counts_bytes_so_a_non_latin_chapter_is_not_underestimated() -> None:
    import pytest

    from producer.submit.bookparts import check_spool_fits
    from worker.books.spool import spool_bytes
    from worker.errors import BadInput

    latin, kana = "a" * 3000, "あ" * 1000  # the same bytes, a third of the characters
    limit = spool_bytes(seconds=3000 / 15 / 0.8, rate=44_100, fmt="mp3", bit_rate=None) - 1
    for text in (latin, kana):
        with pytest.raises(BadInput):
            check_spool_fits(planned(text), limit_bytes=limit)
