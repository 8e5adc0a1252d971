"""Book steps' messages and plans stay inside their book: the checks of worker/books/validate.py, no I/O."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from worker import keys
from worker.books.plan import BookPlan, ChunkMessage, chunk_messages, plan_chapter
from worker.books.validate import (
    InvalidBookMessage,
    InvalidPlan,
    check_book_step,
    check_chunk_in_plan,
    check_chunk_message,
    check_plan,
)
from worker.contract import ModelVoice, Output, Synthesis

BOOK = "b" * 32
MODEL = "s2-pro"
LIMIT = 500_000


def make_plan(*, book_id: str = BOOK, bucket: str = "books", prefix: str = "shelf") -> BookPlan:
    voice = ModelVoice(reference_id="narrator")
    chapters = [
        plan_chapter(
            index=i,
            title=f"Chapter {i + 1}",
            text=f"Chapter {i + 1} begins.\n\nAnd it ends.",
            voice=voice,
            model=MODEL,
            max_bytes=1000,
        )
        for i in range(2)
    ]
    output = Output(bucket=bucket, prefix=prefix)
    return BookPlan(
        book_id=book_id,
        title="T",
        voice=voice,
        output=output,
        fish_model=MODEL,
        submitted_at=datetime.now(UTC),
        chapters=chapters,
    )


def a_chunk(**changes: object) -> ChunkMessage:
    return chunk_messages(make_plan())[1].model_copy(update=changes)


def test_the_producers_own_messages_pass() -> None:
    plan = make_plan()
    for chunk in chunk_messages(plan):
        check_chunk_message(chunk, model=MODEL, max_text_bytes=LIMIT)
        check_chunk_in_plan(chunk, plan)
    check_book_step(BOOK, bucket="books", prefix="shelf", chapter=1)
    check_book_step(BOOK, bucket="books", prefix="")
    check_plan(plan, book_id=BOOK, bucket="books", prefix="shelf")


@pytest.mark.parametrize(
    ("book_id", "bucket", "prefix", "chapter", "error"),
    [
        ("B" * 32, "books", "shelf", 0, "not 32 lowercase hex"),
        ("../" + "b" * 29, "books", "shelf", 0, "not 32 lowercase hex"),
        (None, "books", "shelf", 0, "not 32 lowercase hex"),
        (BOOK, "Books_Of_Others", "shelf", 0, "is not a valid S3 bucket name"),
        (BOOK, "books", "shelf/../../etc", 0, "a '..' or '.' segment"),
        (BOOK, "books", "/etc", 0, "must be relative"),
        (BOOK, "books", "%2e%2e/etc", 0, "percent-encoding"),
        (BOOK, "books", "shelf/", 0, "no leading or trailing '/'"),
        (BOOK, "books", "shelf\x1b[2J", 0, "control characters"),
        (BOOK, "books", ["shelf"], 0, "must be strings"),
        (BOOK, "books", "shelf", -1, "not a chapter index"),
        (BOOK, "books", "shelf", "1", "not a chapter index"),
        (BOOK, "books", "shelf", True, "not a chapter index"),
    ],
)
def test_a_book_step_outside_a_valid_bucket_and_prefix_is_refused(book_id, bucket, prefix, chapter, error: str) -> None:
    with pytest.raises(InvalidBookMessage, match=re.escape(error)):
        check_book_step(book_id, bucket=bucket, prefix=prefix, chapter=chapter)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"bucket": "no"}, "not a valid S3 bucket name"),
        ({"prefix": "../other-tenant"}, "'..' or '.' segment"),
        ({"key": "other-tenant/book/plan.json"}, "is not chunks/<64 hex>.wav"),
        ({"key": "chunks/../other-tenant/x.wav"}, "is not chunks/<64 hex>.wav"),
        ({"key": "chunks/" + "a" * 64 + ".wav"}, "is not the content address"),
        ({"text": "Words nobody asked for."}, "is not the content address"),
        ({"voice": ModelVoice(reference_id="someone-else")}, "is not the content address"),
        ({"synthesis": Synthesis(speed=2.0)}, "is not the content address"),
        ({"text": "Clear \x1b[2J the screen."}, "control character U+001B"),
        ({"text": "word " * 200_000}, "over the limit of 500000"),
        ({"index": -1}, "not a chunk index"),
    ],
)
def test_a_chunk_message_that_is_not_its_own_content_is_refused(changes: dict, error: str) -> None:
    with pytest.raises(InvalidBookMessage, match=re.escape(error)):
        check_chunk_message(a_chunk(**changes), model=MODEL, max_text_bytes=LIMIT)


def test_a_chunk_addressed_for_another_model_says_which_setting_to_compare() -> None:
    with pytest.raises(InvalidBookMessage, match="NARRATE_FISH_MODEL"):
        check_chunk_message(a_chunk(), model="s1", max_text_bytes=LIMIT)


def test_a_chunk_the_plan_does_not_hold_there_is_refused() -> None:
    plan, other = make_plan(), make_plan(book_id="c" * 32)
    first, second = chunk_messages(plan)[:2]
    with pytest.raises(InvalidBookMessage, match="plan read is book c{32}'s"):
        check_chunk_in_plan(first, other)
    for moved in (first.model_copy(update={"chapter": 7}), first.model_copy(update={"index": 9})):
        with pytest.raises(InvalidBookMessage, match="has no such chunk"):
            check_chunk_in_plan(moved, plan)
    # Self-consistent (its key is its content's address) but another place's chunk: it would count the wrong chunk done.
    swapped = second.model_copy(update={"index": first.index})
    check_chunk_message(swapped, model=MODEL, max_text_bytes=LIMIT)
    with pytest.raises(InvalidBookMessage, match="not the plan's for that chunk"):
        check_chunk_in_plan(swapped, plan)


def test_a_plan_that_is_not_the_books_or_points_outside_it_is_refused() -> None:
    plan = make_plan()
    with pytest.raises(InvalidPlan, match="is book c{32}'s"):
        check_plan(make_plan(book_id="c" * 32), book_id=BOOK, bucket="books", prefix="shelf")
    for bucket, prefix in (("other-tenant", "shelf"), ("books", "elsewhere")):
        with pytest.raises(InvalidPlan, match="not beside it"):
            check_plan(plan, book_id=BOOK, bucket=bucket, prefix=prefix)
    chapter = plan.chapters[0]
    bad_chunk = chapter.chunks[0].model_copy(update={"key": "other-tenant/secret.wav"})
    stray_chapter = chapter.model_copy(update={"chunks": [bad_chunk]})
    stray = plan.model_copy(update={"chapters": [stray_chapter, *plan.chapters[1:]]})
    with pytest.raises(InvalidPlan, match="not chunks/<64 hex>.wav"):
        check_plan(stray, book_id=BOOK, bucket="books", prefix="shelf")
    for cover in ("other-tenant/cover.jpg", f"shelf/{BOOK}/../../other/cover.jpg"):
        with pytest.raises(InvalidPlan, match="is not in the book's folder"):
            check_plan(plan.model_copy(update={"cover_key": cover}), book_id=BOOK, bucket="books", prefix="shelf")
    covered = plan.model_copy(update={"cover_key": keys.book_cover("shelf", BOOK, "jpg")})
    check_plan(covered, book_id=BOOK, bucket="books", prefix="shelf")
