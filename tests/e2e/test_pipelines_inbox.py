"""An inbox pipeline against real Redis, S3, the emulator and a worker: scan, render, file away."""

from __future__ import annotations

import json
import time

import pytest

from producer.dev.services import stop_all
from producer.pipelines.config import Pipeline
from producer.pipelines.inbox import InboxContext, scan, settle
from producer.submit.clips import ClipInput, prepare_clip_voice
from worker.settings import Settings
from worker.storage import Storage

pytestmark = pytest.mark.e2e

MARKDOWN = "# The Inbox\n\n## One\n\nA book dropped into the inbox.\n\n## Two\n\nIts second chapter.\n"


@pytest.fixture(scope="module")
def render_worker(stack):
    """One worker for the module: starting one per test would cost more than the tests."""
    worker = stack.add_worker(concurrency=2)
    yield worker
    stop_all([worker], kill=True)  # the test is over: nothing to finish
    stack.services.remove(worker)


@pytest.fixture
def inbox(render_worker, stack_env, emulator, bucket, reference_clip, redis_client):
    ctx = InboxContext.from_settings(Settings())
    ctx.voices.add("narrator", prepare_clip_voice([ClipInput(*reference_clip)]), bucket=bucket)
    pipeline = Pipeline(
        name="test-inbox", inbox=f"s3://{bucket}/inbox/", out=f"s3://{bucket}/audio/", voice="narrator", every="1s"
    )
    return pipeline, ctx


def until_settled(pipeline: Pipeline, ctx: InboxContext, *, expected: int, timeout: float = 90) -> list[str]:
    filed: list[str] = []
    deadline = time.monotonic() + timeout
    while len(filed) < expected:
        assert time.monotonic() < deadline, f"only {filed} settled"
        done = settle(pipeline, ctx=ctx)
        filed += done.processed + done.failed
        time.sleep(0.3)
    return filed


def listing(bucket: str, prefix: str) -> list[str]:
    return sorted(key for key, _ in Storage().list(bucket, prefix))


def test_new_files_render_once_and_move_with_their_results(inbox, bucket) -> None:
    pipeline, ctx = inbox
    storage = Storage()
    storage.put(bucket, "inbox/note.txt", b"A short note, dropped into the inbox.", content_type="text/plain")
    storage.put(bucket, "inbox/book.md", MARKDOWN.encode(), content_type="text/markdown")
    storage.put(bucket, "inbox/broken.epub", b"PK\x03\x04 not really an epub", content_type="application/epub+zip")
    first = scan(pipeline, ctx=ctx)
    assert sorted(first.submitted) == ["inbox/book.md", "inbox/note.txt"] and first.refused == ["inbox/broken.epub"]
    assert scan(pipeline, ctx=ctx).submitted == [], "files in flight are not submitted again"
    until_settled(pipeline, ctx, expected=2)

    assert listing(bucket, "inbox/") == []
    assert listing(bucket, "processed/test-inbox/") == [
        "processed/test-inbox/book.md",
        "processed/test-inbox/book.result.json",
        "processed/test-inbox/note.result.json",
        "processed/test-inbox/note.txt",
    ]
    book = json.loads(storage.get(bucket, "processed/test-inbox/book.result.json"))
    assert book["reports"]["book.m4b"]["rms_db"] and book["outputs"]["m4b"] == book["output_url"]
    assert (
        book["kind"] == "book"
        and book["output_url"].endswith("book.m4b")
        and storage.exists(bucket, "audio/book/" + book["output_url"].split("/audio/book/")[1])
    )
    error = json.loads(storage.get(bucket, "failed/test-inbox/broken.error.json"))
    assert "epub" in error["error"].lower() and error["fix"]

    storage.put(bucket, "inbox/again.txt", b"A short note, dropped into the inbox.", content_type="text/plain")
    again = scan(pipeline, ctx=ctx)
    assert again.duplicates == ["inbox/again.txt"] and again.submitted == [], "the same bytes are not rendered twice"
    assert json.loads(storage.get(bucket, "processed/test-inbox/again.result.json"))["duplicate_of"].endswith(
        "inbox/note.txt"
    )


def test_the_budget_holds_a_file_back_and_the_commands_show_it(inbox, bucket, tmp_path, monkeypatch) -> None:
    from typer.testing import CliRunner

    from producer.cli.main import app
    from worker.settings import get_settings

    pipeline, ctx = inbox
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        f"pipelines:\n  - name: thrifty\n    inbox: s3://{bucket}/inbox/\n    out: s3://{bucket}/audio/\n"
        "    voice: narrator\n    every: 1h\n    budget_per_day: 0.001\n"
    )
    monkeypatch.setenv("NARRATE_PIPELINES_FILE", str(config))
    get_settings.cache_clear()
    Storage().put(
        bucket,
        "inbox/long.txt",
        ("Words that cost more than a tenth of a cent. " * 3).encode(),
        content_type="text/plain",
    )
    runner = CliRunner()
    ran = runner.invoke(app, ["pipelines", "run", "thrifty"])
    assert ran.exit_code == 0 and "1 held" in ran.output and "0 submitted" in ran.output, ran.output
    shown = runner.invoke(app, ["pipelines", "status", "thrifty"])
    assert "held: inbox/long.txt: waits: its estimate" in shown.output and "budget_per_day $0.00" in shown.output
    assert listing(bucket, "inbox/") == ["inbox/long.txt"], "a held file waits in the inbox"
    listed = runner.invoke(app, ["pipelines", "list"])
    assert listed.exit_code == 0 and "thrifty" in listed.output


def test_a_sidecar_gives_one_file_its_own_voice(inbox, bucket, emulator, reference_clip) -> None:
    from worker.jobs.records import JobStore

    pipeline, ctx = inbox
    voice_id = emulator.create_model(reference_clip)
    pipeline = pipeline.model_copy(
        update={"voices": ["narrator", voice_id]}
    )  # a sidecar may use the voices its pipeline grants
    storage = Storage()
    storage.put(bucket, "inbox/special.voice.yaml", f"voice_id: {voice_id}\n".encode(), content_type="text/yaml")
    storage.put(bucket, "inbox/special.txt", b"Read in a voice of its own.", content_type="text/plain")
    storage.put(bucket, "inbox/wrong.voice.yaml", b"colour: blue\n", content_type="text/yaml")
    storage.put(bucket, "inbox/wrong.txt", b"Its sidecar is wrong.", content_type="text/plain")
    found = scan(pipeline, ctx=ctx)
    assert found.submitted == ["inbox/special.txt"] and found.refused == ["inbox/wrong.txt"]
    error = json.loads(storage.get(bucket, "failed/test-inbox/wrong.error.json"))["error"]
    assert "wrong.voice.yaml: 'colour' cannot be set per file" in error
    until_settled(pipeline, ctx, expected=1)
    result = json.loads(storage.get(bucket, "processed/test-inbox/special.result.json"))
    record = JobStore(ctx.client).get(result["id"])
    assert record is not None and record.voice_mode == "reference_id"


def test_a_scan_submits_at_most_its_cap_and_goes_on_where_it_stopped(inbox, bucket) -> None:
    pipeline, ctx = inbox
    capped = pipeline.model_copy(update={"max_new_per_scan": 2})
    for name in ("a", "b", "c"):
        Storage().put(bucket, f"inbox/{name}.txt", f"File {name}, one of three.".encode(), content_type="text/plain")
    assert scan(capped, ctx=ctx).submitted == ["inbox/a.txt", "inbox/b.txt"]
    assert ctx.client.get("narrate:pipeline:test-inbox:cursor") == b"inbox/b.txt", "where it stopped is recorded"
    assert scan(capped, ctx=ctx).submitted == ["inbox/c.txt"], "the next scan starts after the last one's stop"
    assert scan(capped, ctx=ctx).submitted == []


def test_a_manifest_renders_its_entries_and_files_away_with_each_result(
    inbox, bucket, emulator, reference_clip
) -> None:
    pipeline, ctx = inbox
    storage = Storage()
    voice_id = emulator.create_model(reference_clip)
    pipeline = pipeline.model_copy(
        update={
            "sources": [f"s3://{bucket}/inbox/", f"s3://{bucket}/sources/"],
            "voices": ["narrator", voice_id],
            "outputs": [f"s3://{bucket}/audio/", f"s3://{bucket}/elsewhere/"],
        }
    )  # what the manifest may name
    storage.put(bucket, "sources/tale.md", MARKDOWN.encode(), content_type="text/markdown")
    manifest = "\n".join(
        [
            '{"text": "The first entry, in the pipeline\'s voice."}',
            "# a comment line keeps the numbering",
            json.dumps(
                {
                    "text": "The second entry, in a voice of its own.",
                    "voice_id": voice_id,
                    "out": f"s3://{bucket}/elsewhere/",
                }
            ),
            json.dumps({"file": f"s3://{bucket}/sources/tale.md"}),
        ]
    )
    storage.put(bucket, "inbox/batch.jsonl", manifest.encode(), content_type="application/x-ndjson")
    storage.put(
        bucket,
        "inbox/bad.jsonl",
        b'{"text": "fine"}\n{"text": "no closing brace"\n',
        content_type="application/x-ndjson",
    )
    storage.put(
        bucket, "inbox/inside.yaml", f"- file: s3://{bucket}/inbox/batch.jsonl\n".encode(), content_type="text/yaml"
    )
    found = scan(pipeline, ctx=ctx)
    assert found.submitted == ["inbox/batch.jsonl"] and sorted(found.refused) == [
        "inbox/bad.jsonl",
        "inbox/inside.yaml",
    ]
    assert (
        "bad.jsonl: line 2: invalid JSON"
        in json.loads(storage.get(bucket, "failed/test-inbox/bad.error.json"))["error"]
    )
    inside = json.loads(storage.get(bucket, "failed/test-inbox/inside.error.json"))["error"]
    assert "inside.yaml: entry 1: `file`" in inside and "lies inside the inbox" in inside

    until_settled(pipeline, ctx, expected=1, timeout=120)
    result = json.loads(storage.get(bucket, "processed/test-inbox/batch.result.json"))
    assert result["kind"] == "manifest" and [e["kind"] for e in result["entries"]] == ["book", "job", "job"]
    assert all(entry["succeeded"] for entry in result["entries"])
    book, first, second = result["entries"]
    assert book["output_url"].startswith(f"s3://{bucket}/audio/batch/tale/") and book["reports"]
    assert first["output_url"].startswith(f"s3://{bucket}/audio/batch/") and second["output_url"].startswith(
        f"s3://{bucket}/elsewhere/"
    )
    from worker.jobs.records import JobStore

    modes = [JobStore(ctx.client).get(e["id"]).voice_mode for e in (first, second)]  # type: ignore[union-attr]
    assert modes == ["one_shot", "reference_id"], "an entry without a voice takes the pipeline's; its own wins"
    assert listing(bucket, "inbox/") == []


def test_a_clip_voice_is_prepared_once_per_run(inbox, bucket, reference_clip) -> None:
    _, ctx = inbox
    storage = Storage()
    path, transcript = reference_clip
    storage.put(bucket, "voices/clip.wav", path.read_bytes(), content_type="audio/wav")
    pipeline = Pipeline(
        name="clip-inbox",
        inbox=f"s3://{bucket}/clips-inbox/",
        out=f"s3://{bucket}/audio/",
        clip=f"s3://{bucket}/voices/clip.wav",
        transcript=transcript,
        every="1h",
    )
    for name in ("one", "two", "three"):
        storage.put(
            bucket, f"clips-inbox/{name}.txt", f"File {name}, in a cloned voice.".encode(), content_type="text/plain"
        )
    assert len(scan(pipeline, ctx=ctx).submitted) == 3
    assert len(ctx.clip_voices) == 1, "three files, one clip: probed once"


def test_a_recurring_manifest_renders_its_entries_under_the_run_folder(inbox, bucket) -> None:
    from datetime import datetime

    from producer.pipelines.recurring import render_recurring

    _, ctx = inbox
    Storage().put(
        bucket,
        "news/today.yaml",
        b"- text: The morning's first item.\n- text: And its second.\n",
        content_type="text/yaml",
    )
    pipeline = Pipeline(
        name="bulletin",
        recurring=f"s3://{bucket}/news/today.yaml",
        out=f"s3://{bucket}/news-audio/{{date}}/{{time}}/",
        voice="narrator",
        every="1h",
    )
    out = render_recurring(pipeline, ctx=ctx, now=datetime(2026, 12, 1, 6, 0, 0))
    assert out == f"s3://{bucket}/news-audio/2026-12-01/060000/"
    deadline = time.monotonic() + 60
    while len([k for k in listing(bucket, "news-audio/2026-12-01/060000/") if k.endswith(".mp3")]) < 2:
        assert time.monotonic() < deadline, listing(bucket, "news-audio/")
        time.sleep(0.3)


def test_an_edited_manuscript_renders_only_its_changed_chunks(inbox, bucket, emulator) -> None:
    from worker.books.state import BookState

    pipeline, ctx = inbox
    storage = Storage()
    storage.put(bucket, "inbox/serial.md", MARKDOWN.encode(), content_type="text/markdown")
    assert scan(pipeline, ctx=ctx).submitted == ["inbox/serial.md"]
    until_settled(pipeline, ctx, expected=1)
    first = json.loads(storage.get(bucket, "processed/test-inbox/serial.result.json"))
    before = len(emulator.requests())

    storage.put(
        bucket,
        "inbox/serial.md",
        MARKDOWN.replace("Its second chapter.", "Its second chapter, revised.").encode(),
        content_type="text/markdown",
    )
    assert scan(pipeline, ctx=ctx).submitted == ["inbox/serial.md"], "new bytes under the same name are a new render"
    until_settled(pipeline, ctx, expected=1)
    second = json.loads(storage.get(bucket, "processed/test-inbox/serial.result.json"))
    book = BookState(ctx.client).get(second["id"])
    assert second["id"] != first["id"] and book is not None
    assert (book["chunks_rendered"], book["chunks_reused"]) == (1, book["chunks_total"] - 1), (
        "only the edited chapter's chunk is paid for"
    )
    answered = [r for r in emulator.requests()[before:] if r["status"] == 200]
    tts = [r for r in answered if r["kind"] == "tts"]
    assert len(tts) == 1 and "revised" in tts[0]["text"]
    # heard as its preset says (standard: report); the chunks reused are not heard again
    assert [r["kind"] for r in answered].count("asr") == 1


def test_the_pipelines_lexicons_apply_then_an_entrys_own(inbox, bucket, emulator) -> None:
    pipeline, ctx = inbox
    storage = Storage()
    storage.put(bucket, "lexicons/src/pipeline.yaml", b"Zorbu: Zor-boo\n", content_type="text/yaml")
    storage.put(bucket, "lexicons/src/entry.csv", b"word,say\nQuix,Kwicks\nZorbu,Zorr-bew\n", content_type="text/csv")
    pipeline = Pipeline.model_validate(
        {
            **pipeline.model_dump(),
            "lexicon": f"s3://{bucket}/lexicons/src/pipeline.yaml",
            "sources": [f"s3://{bucket}/inbox/", f"s3://{bucket}/lexicons/src/"],
        }
    )
    storage.put(bucket, "inbox/note.txt", b"Zorbu waved at Quix.", content_type="text/plain")
    entry = {"text": "Quix met Zorbu.", "lexicon": [f"s3://{bucket}/lexicons/src/entry.csv"]}
    storage.put(bucket, "inbox/batch.jsonl", json.dumps(entry).encode(), content_type="application/x-ndjson")
    assert sorted(scan(pipeline, ctx=ctx).submitted) == ["inbox/batch.jsonl", "inbox/note.txt"]
    until_settled(pipeline, ctx, expected=2)
    spoken = [r["text"] for r in emulator.requests() if r["status"] == 200 and r["kind"] == "tts"]
    assert "Zor-boo waved at Quix." in spoken  # the pipeline's lexicon
    assert "Kwicks met Zorr-bew." in spoken  # the entry's own, after the pipeline's: its Zorbu wins
    with pytest.raises(ValueError, match="is not an S3 URL"):
        Pipeline.model_validate({**pipeline.model_dump(), "lexicon": ["names.yaml"]})


@pytest.fixture
def behind_faults(inbox, stack, monkeypatch):
    """The inbox's pipeline with a context whose every S3 request goes through a proxy that can answer S3's errors."""
    from tests.support.s3faults import S3Faults

    pipeline, _ = inbox
    proxy = S3Faults(stack.s3.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
    yield pipeline, InboxContext.from_settings(Settings()), proxy
    proxy.stop()


def test_a_source_deleted_while_it_renders_and_a_denied_report_leave_the_others_filed(behind_faults, bucket) -> None:
    pipeline, ctx, faults = behind_faults
    storage = Storage()
    storage.put(
        bucket, "inbox/gone.txt", b"A note whose source is deleted while it renders.", content_type="text/plain"
    )
    storage.put(bucket, "inbox/book.md", MARKDOWN.encode(), content_type="text/markdown")
    assert sorted(scan(pipeline, ctx=ctx).submitted) == ["inbox/book.md", "inbox/gone.txt"]
    storage.delete(bucket, "inbox/gone.txt")
    faults.answer("GET", f"{bucket}/audio/book/", status=403)  # the finished book's report is denied
    assert sorted(until_settled(pipeline, ctx, expected=2)) == ["inbox/book.md", "inbox/gone.txt"]

    gone = json.loads(storage.get(bucket, "processed/test-inbox/gone.result.json"))
    assert gone["output_url"] and "the source was gone from the inbox" in gone["notes"][0]
    book = json.loads(storage.get(bucket, "processed/test-inbox/book.result.json"))
    assert book["output_url"].endswith("book.m4b") and "access denied" in book["reports_error"]
    assert listing(bucket, "inbox/") == [] and storage.exists(bucket, "processed/test-inbox/book.md")

    storage.put(
        bucket, "inbox/again.txt", b"A note whose source is deleted while it renders.", content_type="text/plain"
    )
    assert scan(pipeline, ctx=ctx).duplicates == ["inbox/again.txt"]
    assert faults.seen("GET", "inbox/again.txt") == 0, "known from its ETag and size: not downloaded"


def test_a_manifest_that_fails_part_way_tracks_what_it_sent_and_does_not_pay_for_it_again(
    behind_faults, bucket, emulator
) -> None:
    from producer.pipelines.state import InboxState

    pipeline, ctx, faults = behind_faults
    pipeline = pipeline.model_copy(update={"sources": [f"s3://{bucket}/sources/"]})
    storage = Storage()
    storage.put(
        bucket,
        "sources/first.md",
        b"# First\n\n## One\n\nThe first book of the manifest.\n",
        content_type="text/markdown",
    )
    storage.put(
        bucket,
        "sources/second.md",
        b"# Second\n\n## One\n\nThe second book of the manifest.\n",
        content_type="text/markdown",
    )
    manifest = "".join(
        json.dumps({"file": f"s3://{bucket}/sources/{name}.md"}) + "\n" for name in ("first", "second")
    ).encode()
    storage.put(bucket, "inbox/batch.jsonl", manifest, content_type="application/x-ndjson")
    faults.answer("PUT", f"{bucket}/audio/batch/second/", status=403)  # the second book cannot be written where it goes

    assert scan(pipeline, ctx=ctx).submitted == ["inbox/batch.jsonl"], "its first book went out: it is tracked"
    state = InboxState(ctx.client, pipeline.name)
    assert state.spent_today() > 0 and len(state.inflight()["inbox/batch.jsonl"]["items"]) == 1, "and paid for"
    until_settled(pipeline, ctx, expected=1)
    error = json.loads(storage.get(bucket, "failed/test-inbox/batch.error.json"))
    assert "only 1 entries were sent" in error["error"] and "access denied" in error["error"]

    faults.rules.clear()
    storage.put(bucket, "inbox/batch.jsonl", manifest, content_type="application/x-ndjson")
    assert scan(pipeline, ctx=ctx).submitted == ["inbox/batch.jsonl"]
    until_settled(pipeline, ctx, expected=1)
    result = json.loads(storage.get(bucket, "processed/test-inbox/batch.result.json"))
    assert [e["succeeded"] for e in result["entries"]] == [True, True]
    spoken = [r["text"] for r in emulator.requests() if r["status"] == 200 and r["kind"] == "tts"]
    assert (
        spoken.count("The first book of the manifest.") == 1 and spoken.count("The second book of the manifest.") == 1
    )
