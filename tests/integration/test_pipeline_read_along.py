"""A pipeline with `read_along: true`: a book dropped in its inbox is sent with its marked text stored beside the
plan, heard to report at least; a pipeline asking for read-along with chapters readers cannot play is refused."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.inbox import scan
from producer.readalong.package import epub_sentences
from tests.support.epubs import write_epub
from worker import keys
from worker.books.plan import BookPlan
from worker.settings import Settings
from worker.storage import Storage

VOICE_ID = "802e3bc2b27e49c2995d23ef70e6ac89"  # sending needs no Fish call: no worker runs here
CHAPTERS = [("The Quay", ["The lamps were lit. The boat left at nine.", "Nobody had seen the captain."])]


def pipeline(bucket: str, **fields: object) -> Pipeline:
    return Pipeline(
        name="ra", inbox=f"s3://{bucket}/inbox/", out=f"s3://{bucket}/audio/", voice_id=VOICE_ID, every="1m", **fields
    )


def test_a_book_from_the_inbox_is_sent_with_its_sentences_marked(stack_env, bucket, redis_client, tmp_path) -> None:
    book = write_epub(tmp_path / "quay.epub", title="The Quay", author="A", chapters=CHAPTERS, cover=False)
    storage = Storage()
    storage.put(bucket, "inbox/quay.epub", book.read_bytes(), content_type="application/epub+zip")

    result = scan(pipeline(bucket, read_along=True), ctx=InboxContext.from_settings(Settings()))

    assert result.submitted == ["inbox/quay.epub"]
    [plan_key] = [k for k, _ in storage.list(bucket, "audio/quay/") if k.endswith("/plan.json")]
    plan = BookPlan.model_validate_json(storage.get(bucket, plan_key))
    assert plan.read_along == keys.book_read_along_source(plan.output.prefix, plan.book_id)
    assert plan.qc.mode in ("report", "retake"), "read-along is timed by hearing"
    marked = tmp_path / "marked.epub"
    marked.write_bytes(storage.get(bucket, plan.read_along))
    [(document, sentences)] = epub_sentences(marked).items()
    assert document == plan.chapters[0].document
    assert [text for _, text in sentences] == [
        "The lamps were lit.",
        "The boat left at nine.",
        "Nobody had seen the captain.",
    ]


def test_read_along_with_chapters_an_epub_cannot_hold_is_refused(bucket) -> None:
    with pytest.raises(ValidationError, match="readers play MP3"):
        pipeline(bucket, read_along=True, format="wav")
