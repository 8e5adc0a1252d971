"""`narrate qc` and `narrate status` on books heard for real: the chunk tasks run in-process through the emulator,
whose faults spoil one chunk's takes; the chapters and the book assembled as the workers do (real Redis and S3).
And a single job's report, read from its manifest."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from producer.cli.qc import clock
from producer.dev.stack import LocalStack
from producer.readers.books import read_book
from producer.readers.quality import QcChoice
from producer.submit.books import BookSubmitter
from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.conftest import EmulatorControl
from tests.integration.conftest import book_context, record_sends, set_book_env
from tests.support.book_faults import FlakyStorage, render_one, run_chapter
from tests.support.epubs import write_epub
from tests.support.jobs import clip_voice, make_job
from worker import keys
from worker.books import tasks
from worker.books.plan import BookPlan, chunk_messages
from worker.contract import QualityCheck
from worker.jobs.records import JobRecord, JobStore
from worker.jobs.render import render_job
from worker.settings import Settings, get_settings

runner = CliRunner()

CHAPTERS = [
    (
        "Harbour",
        [
            "The lamps were lit along the quay before the boats came in.",
            "Marguerite waited by the crane and counted the masts twice over.",
            "Nobody on the pier had seen the captain since the morning tide.",
        ],
    ),
    ("Pier", ["The last boat came in after dark with its sails torn wide open."]),
]
SPOILED = (0, 1)  # chapter 1's second chunk: every take of it stops in its last clause


def submitted(bucket: str, voice, tmp_path: Path, mode: str) -> BookPlan:  # noqa: ANN001
    path = write_epub(tmp_path / "heard.epub", title="Heard", author="A", chapters=CHAPTERS, cover=False)
    plan, _ = BookSubmitter.from_settings(Settings()).submit(
        read_book(str(path)), voice=voice, out=f"s3://{bucket}/heard", qc=QcChoice(mode=mode)
    )
    return plan


def rendered(plan: BookPlan, ctx, emulator, *, spoiled: tuple[int, int] = SPOILED) -> None:  # noqa: ANN001
    """Every chunk taken and heard as its task does, the spoiled one's takes cut short."""
    emulator.control(tone_mode=False)  # speech, whose words are where espeak-ng says: a cut take keeps its start
    for message in chunk_messages(plan):
        emulator.control(fault_cut=1.0 if (message.chapter, message.index) == spoiled else 0)
        render_one(message, plan, ctx)
    emulator.control(fault_cut=0)


def finished(plan: BookPlan, sent) -> None:  # noqa: ANN001
    for index in range(len(plan.chapters)):
        assert run_chapter(plan, index).successful()
    assert tasks.assemble.apply(args=sent["book"][0]).successful()


def narrate(*args: str):  # noqa: ANN201
    return runner.invoke(app, list(args))


@pytest.fixture(scope="class")
def heard_book(stack: LocalStack, reference_clip, tmp_path_factory: pytest.TempPathFactory) -> tuple[BookPlan, dict]:
    """A book heard (--qc report) and finished, made once for the class whose tests only read it, as the function
    fixtures would make it: Redis flushed, the emulator reset, a bucket of its own, the book settings."""
    client = redis.Redis.from_url(stack.redis.url)  # type: ignore[union-attr]
    client.flushdb()
    emulator = EmulatorControl(stack.emulator.url)  # type: ignore[union-attr]
    emulator.reset()
    emulator.control(tone_mode=True)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.env().items():
            patch.setenv(name, value)
        set_book_env(patch)
        try:
            storage = FlakyStorage()
            bucket = f"test-{uuid.uuid4().hex[:12]}"
            storage.create_bucket(bucket)
            ctx = book_context(client, storage)
            sent = record_sends(ctx, patch)
            plan = submitted(
                bucket, prepare_clip_voice([ClipInput(*reference_clip)]), tmp_path_factory.mktemp("heard"), "report"
            )
            rendered(plan, ctx, emulator)
            finished(plan, sent)
            manifest = ctx.render.storage.get(bucket, keys.book_manifest("heard", plan.book_id))
        finally:
            get_settings.cache_clear()
    return plan, json.loads(manifest)


@pytest.fixture
def heard(heard_book: tuple[BookPlan, dict], book_env) -> tuple[BookPlan, dict]:  # noqa: ANN001
    """The class's heard book, the book settings set for the test (Redis is not flushed: the book is in it)."""
    return heard_book


class TestAHeardBook:
    """One book heard and finished (its second chunk left failing), read by each test."""

    def test_a_finished_book_lists_the_chunk_left_failing_at_its_seconds_in_the_chapter_file(self, heard) -> None:
        plan, manifest = heard
        result = narrate("qc", plan.book_id)
        assert result.exit_code == 0, result.output
        placed = manifest["chapters"][0]["qc"]["failing"]
        kinds = [fault["kind"] for fault in placed[0]["faults"]]
        assert [c["chunk"] for c in placed] == [2] and "cut" in kinds
        start, end = placed[0]["start_seconds"], placed[0]["end_seconds"]
        out = result.output
        assert "heard with --qc report" in out and "heard: 4 takes, 0 retakes, 1 chunks left failing" in out
        assert (
            f"chapter 1 Harbour, chunk 2: {clock(start)}-{clock(end)} ({start:.3f}-{end:.3f} s)"
            f" in {manifest['chapters'][0]['output_url']}"
        ) in out
        assert f"text:   {CHAPTERS[0][1][1]}" in out and f"faults: {', '.join(kinds)}" in out
        assert f"heard:  {placed[0]['heard']}" in out and placed[0]["heard"] != CHAPTERS[0][1][1]

    def test_the_json_report_has_every_chapter_its_counts_and_the_chunk_placed(self, heard) -> None:
        plan, manifest = heard
        result = narrate("qc", plan.book_id, "--json")
        assert result.exit_code == 0, result.output
        report = json.loads(result.output)
        assert (report["book_id"], report["mode"], report["state"]) == (plan.book_id, "report", "succeeded")
        totals = {"chunks_heard": 4, "takes_heard": 4, "retakes": 0, "left_failing": 1, "not_heard": 0}
        assert {k: report[k] for k in totals} == totals
        first, second = report["chapters"]
        assert (first["index"], first["title"], first["assembled"]) == (0, "Harbour", True)
        assert first["output_url"] == manifest["chapters"][0]["output_url"] != ""
        assert (first["chunks_heard"], first["left_failing"], second["left_failing"]) == (3, 1, 0)
        assert first["failing"] == manifest["chapters"][0]["qc"]["failing"] and second["failing"] == []
        chunk = first["failing"][0]
        assert set(chunk) == {"chunk", "start_seconds", "end_seconds", "text", "heard", "takes", "faults"}
        assert 0 < chunk["start_seconds"] < chunk["end_seconds"]
        assert all(chunk["start_seconds"] <= f["start"] <= chunk["end_seconds"] for f in chunk["faults"] if f["start"])

    def test_status_counts_what_was_heard_and_points_to_narrate_qc(self, heard) -> None:
        plan, _ = heard
        shown = narrate("status", plan.book_id)
        assert shown.exit_code == 0, shown.output
        assert f"heard: 4 takes, 0 retakes, 1 chunks left failing — `narrate qc {plan.book_id}`" in shown.output
        book = json.loads(narrate("status", plan.book_id, "--json").output)
        assert book["qc"] == {"chunks_heard": 4, "takes_heard": 4, "retakes": 0, "left_failing": 1, "not_heard": 0}
        assert book["chapters"][0]["qc"]["failing"][0]["chunk"] == 2


def test_a_book_still_rendering_counts_its_chunks_and_says_where_positions_are_not_known_yet(
    ctx, sent, bucket, voice, tmp_path, emulator
) -> None:
    plan = submitted(bucket, voice, tmp_path, "retake")
    rendered(plan, ctx, emulator, spoiled=(1, 0))  # the second chapter's only chunk: cut at every take
    assert run_chapter(plan, 0).successful()  # the first chapter's file is made; the second's is not
    result = narrate("qc", plan.book_id, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    first, second = report["chapters"]
    assert report["state"] != "succeeded" and (first["assembled"], second["assembled"]) == (True, False)
    retakes = Settings().qc_retakes
    assert (second["takes_heard"], second["retakes"], second["left_failing"]) == (retakes + 1, retakes, 1)
    assert (first["left_failing"], report["left_failing"], report["retakes"]) == (0, 1, retakes)
    chunk = second["failing"][0]
    assert (chunk["chunk"], chunk["start_seconds"], chunk["end_seconds"]) == (1, None, None)
    assert chunk["text"] == CHAPTERS[1][1][0] and "cut" in [fault["kind"] for fault in chunk["faults"]]
    out = narrate("qc", plan.book_id).output
    assert "chapter 2 Pier, chunk 1: position not known yet (the chapter file is not made)" in out
    status = json.loads(narrate("status", plan.book_id, "--json").output)
    assert status["qc"]["left_failing"] == 1 and status["qc"]["retakes"] == retakes


def test_a_book_not_heard_says_so_plainly(ctx, sent, bucket, voice, tmp_path, emulator) -> None:
    plan = submitted(bucket, voice, tmp_path, "off")
    rendered(plan, ctx, emulator)
    finished(plan, sent)
    result = narrate("qc", plan.book_id)
    assert result.exit_code == 0, result.output
    assert "was not heard: proof-listening was off" in result.output
    report = json.loads(narrate("qc", plan.book_id, "--json").output)
    assert (report["mode"], report["chapters"], report["left_failing"]) == ("off", [], 0)
    shown = narrate("status", plan.book_id)
    assert "heard:" not in shown.output and json.loads(narrate("status", plan.book_id, "--json").output)["qc"] is None


def test_a_job_id_reports_its_manifests_chunks_left_failing(
    ctx, bucket, reference_clip, emulator, redis_client
) -> None:
    job = make_job(
        text=" ".join(CHAPTERS[0][1]),
        voice=clip_voice(ctx.render.storage, bucket=bucket, clip=reference_clip),
        bucket=bucket,
    )
    store = JobStore(redis_client)
    store.create([JobRecord(job_id=job.job_id, state="running", title="quay.txt")])
    assert "is running: its report is written with its manifest" in narrate("qc", job.job_id).output
    emulator.control(tone_mode=False, fault_cut=1.0)
    manifest = render_job(
        job.model_copy(update={"qc": QualityCheck(mode="report", language="en")}), ctx=ctx.render, attempt=1
    )
    url = keys.s3_url(bucket, keys.output_manifest(job.output.prefix, job.job_id))
    store.mark_succeeded(job.job_id, output_url=manifest.output.url, manifest_url=url)
    report = json.loads(narrate("qc", job.job_id, "--json").output)
    assert (report["mode"], report["output_url"]) == ("report", manifest.output.url)
    assert report["failing"] == manifest.qc["failing"] and report["left_failing"] == manifest.qc["left_failing"] >= 1
    first, out = report["failing"][0], narrate("qc", job.job_id).output
    assert f"chunk 1: {clock(first['start_seconds'])}-{clock(first['end_seconds'])}" in out
    assert f"in {manifest.output.url}" in out


def test_an_unknown_id_is_refused_with_the_words_status_uses(stack_env, redis_client) -> None:
    result = narrate("qc", "0" * 32)
    status = narrate("status", "0" * 32)
    assert result.exit_code == status.exit_code == 2
    assert f"no such job: {'0' * 32}" in result.output and result.output == status.output
