"""A pipeline's and a batch file's `qc:` reach the jobs and books they send: an entry's own over the pipeline's (or
the command line's), the pipeline's over NARRATE_QC; no stack, the submitters stand in."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from producer.pipelines import items
from producer.pipelines.batches import read_batch_object
from producer.pipelines.boundary import grant_for
from producer.pipelines.config import Pipeline
from producer.readers.booktext import BookText, ChapterText
from producer.readers.quality import QcChoice
from producer.readers.text import TextSource
from producer.submit.batches import plan_work
from tests.support.batch_files import write_jsonl
from worker.settings import Settings
from worker.storage import Storage

VOICE_ID = "7f92f8afb8ec43bf81429cc1c9199cb1"
PIPELINE = {
    "name": "inbox",
    "inbox": "s3://books/inbox/",
    "out": "s3://books/audio/",
    "voice_id": VOICE_ID,
    "every": "60s",
}


class Asked:
    """Stands in for both submitters: what each submit was asked, nothing sent."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def submit(self, *args: object, **kwargs: Any) -> Any:
        self.calls.append(kwargs)
        if "sources" in kwargs:
            return [SimpleNamespace(job_id="j")]
        return SimpleNamespace(book_id="b"), SimpleNamespace(total_cost_usd=0.25)


def context() -> SimpleNamespace:
    asked = Asked()
    return SimpleNamespace(jobs=asked, books=asked, voices=None, storage=None, clip_voices={}, settings=Settings())


@pytest.mark.parametrize(("written", "chosen"), [({"qc": "retake"}, QcChoice(mode="retake")), ({}, QcChoice())])
def test_a_pipelines_text_and_book_carry_its_qc(written: dict, chosen: QcChoice) -> None:
    pipeline = Pipeline.model_validate({**PIPELINE, **written})
    ctx = context()
    items.submit_item(pipeline, TextSource("news.txt", "Words."), out="s3://books/audio/news/", ctx=ctx)
    book = BookText("b.md", "B", "", "en", None, "", [ChapterText("One", "Words.")])
    sent = items.submit_item(pipeline, book, out="s3://books/audio/b/", ctx=ctx)
    assert [call["qc"] for call in ctx.jobs.calls] == [chosen, chosen]
    assert sent["estimated_cost_usd"] == 0.25, "the estimate recorded is the total, hearing included"


def test_a_batch_entrys_own_qc_wins_over_what_the_command_line_or_pipeline_gives(tmp_path: Path) -> None:
    (tmp_path / "two.md").write_text("# Two\n\nText.\n", encoding="utf-8")
    job = {"text": "Words.", "out": "s3://news/a", "voice_id": VOICE_ID}
    path = write_jsonl(
        tmp_path,
        job,
        {**job, "qc": {"retakes": 4}},
        {**job, "qc": "off"},
        {"file": "two.md", "out": "s3://books/two", "voice_id": VOICE_ID, "qc": {"mode": "report"}},
    )
    given = QcChoice(mode="retake", retakes=1)
    work = plan_work(Settings(), [path], out=None, fmt=None, cli_voice=(None, None, None, None), qc=given)
    assert [group.qc for group in work.job_groups.values()] == [
        given,
        QcChoice(mode="retake", retakes=4),
        QcChoice(mode="off", retakes=1),
    ], "jobs differing only in qc go out in groups of their own"
    [book] = work.books
    assert book.submit_options()["qc"] == QcChoice(mode="report", retakes=1)


def test_a_batch_file_in_an_inbox_is_read_under_the_pipelines_qc() -> None:
    pipeline = Pipeline.model_validate({**PIPELINE, "qc": {"mode": "retake", "retakes": 3}})
    lines = [{"text": "Words."}, {"text": "More words.", "qc": "report"}]
    data = "\n".join(json.dumps(line) for line in lines).encode()
    batch = read_batch_object(
        pipeline,
        "inbox/news.jsonl",
        data,
        out="s3://books/audio/news/",
        storage=Storage(),
        settings=Settings(),
        grant=grant_for(pipeline),
    )
    assert [group.qc for group in batch.work.job_groups.values()] == [
        QcChoice(mode="retake", retakes=3),
        QcChoice(mode="report", retakes=3),
    ]
