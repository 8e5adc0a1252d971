"""The read-along overlays a finished book's timed sentences make: one per document, each clip in its chapter file;
and the plan's sentence starts that give each sentence its id."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.books.overlays import _overlays
from worker.books.plan import BookPlan, plan_chapter
from worker.books.readalong import Clip
from worker.contract import ModelVoice, Output
from worker.text.sentences import sentence_id

VOICE = ModelVoice(reference_id="narrator")


def plan_of(*chapters: tuple[str, int, str]) -> BookPlan:
    """Chapters as (document, first paragraph, text)."""
    planned = [
        plan_chapter(
            index=i, title=f"C{i}", text=text, voice=VOICE, model="s1", max_bytes=40, document=doc, first_paragraph=p
        )
        for i, (doc, p, text) in enumerate(chapters)
    ]
    return BookPlan(
        book_id="b" * 32,
        title="T",
        voice=VOICE,
        output=Output(bucket="books", prefix="p"),
        fish_model="s1",
        submitted_at=datetime.now(UTC),
        chapters=planned,
        read_along="p/x/readalong-source.epub",
    )


def said(paragraph: int, sentence: int, start: float, end: float) -> dict:
    return {"paragraph": paragraph, "sentence": sentence, "file_start": start, "file_end": end}


def test_a_document_cut_into_two_parts_is_one_overlay_heard_in_two_files() -> None:
    plan = plan_of(("EPUB/c1.xhtml", 0, "One. Two."), ("EPUB/c1.xhtml", 1, "Three."), ("", 0, "Credits."))
    timed = [[said(0, 0, 0.75, 1.5), said(0, 1, 1.75, 2.5)], [said(1, 0, 0.75, 2.0)], [said(0, 0, 0.75, 1.0)]]

    [overlay] = _overlays(plan, timed)

    assert overlay.document == "EPUB/c1.xhtml"
    assert overlay.clips == [
        Clip("narrate-0-0", 0.75, 1.5, audio="001.mp3"),
        Clip("narrate-0-1", 1.75, 2.5, audio="001.mp3"),
        Clip("narrate-1-0", 0.75, 2.0, audio="002.mp3"),
    ]


def test_clips_never_overlap_or_vanish_in_their_file() -> None:
    plan = plan_of(("EPUB/c1.xhtml", 0, "One. Two. Three."))
    timed = [[said(0, 0, 1.0, 2.0), said(0, 1, 1.9, 1.9), said(0, 2, 3.0, 4.0)]]

    clips = _overlays(plan, timed)[0].clips

    assert [(c.begin, c.end) for c in clips] == [(1.0, 2.0), (2.0, 2.002), (3.0, 4.0)]


def test_each_chunk_records_where_the_books_sentences_start_and_ids_follow_paragraphs() -> None:
    plan = plan_of(
        ("EPUB/c1.xhtml", 4, "Mr. Smith came home. He sat down.\n\nA long second paragraph runs on and on here.")
    )
    chunks = plan.chapters[0].chunks

    # "Mr." ends no sentence; a sentence over the chunk budget is cut, and its second chunk starts none
    assert [(c.text, c.sentences) for c in chunks] == [
        ("Mr. Smith came home. He sat down.", [0, 21]),
        ("A long second paragraph runs on and on", [0]),
        ("here.", []),
    ]
    assert sentence_id(4, 1) == "narrate-4-1"
