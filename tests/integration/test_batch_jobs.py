"""A batch file of plain narration jobs (`text:` entries) mixed with a book, submitted through the CLI to real Redis
and S3."""

from __future__ import annotations

import base64
import json

from typer.testing import CliRunner

from producer.cli.main import app
from producer.submit.clips import ClipInput, prepare_clip_voice
from worker.app import QUEUE
from worker.books.state import BookState
from worker.jobs.records import JobStore
from worker.storage import Storage


def queued_render_jobs(client) -> dict[str, dict]:
    """The `narrate.render` messages waiting in the queue: job id -> the job they carry."""
    found = {}
    for raw in client.lrange(QUEUE, 0, -1):
        message = json.loads(raw)
        if message["headers"]["task"] == "narrate.render":
            _, kwargs, _ = json.loads(base64.b64decode(message["body"]))
            found[message["headers"]["id"]] = kwargs["job"]
    return found


def test_a_mixed_batch_file_queues_one_render_job_per_text_entry(
    stack_env, bucket, redis_client, reference_clip, tmp_path
) -> None:
    clip, transcript = reference_clip
    (tmp_path / "two.md").write_text("# Book Two\n\n## Part A\n\nFirst words.\n", encoding="utf-8")
    lines = [
        {"text": "Markets rose today.", "out": f"s3://{bucket}/news", "voice": str(clip), "transcript": transcript},
        {"file": "two.md", "out": f"s3://{bucket}/two", "voice_id": "a1b2c3"},
        {
            "text": "Rain tomorrow.",
            "out": f"s3://{bucket}/news",
            "voice": str(clip),
            "transcript": transcript,
            "title": "Weather",
        },
        {"text": "Read by a Fish voice.", "out": f"s3://{bucket}/other", "voice_id": "a1b2c3", "format": "wav"},
    ]
    batch = tmp_path / "today.jsonl"
    batch.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")

    result = CliRunner().invoke(app, ["submit", str(batch), "--json"])  # entries name their own outputs

    assert result.exit_code == 0, result.output
    *book_lines, last = result.stdout.strip().splitlines()
    assert "two.md: 1 chapters" in " ".join(book_lines)  # books print what they always have; the jobs' JSON comes last
    jobs = json.loads(last)["jobs"]
    assert [job["title"] for job in jobs] == ["today.jsonl:1", "Weather", "today.jsonl:4"]  # batch file order
    assert "queued 3 jobs in" in result.stderr

    clip_hash = prepare_clip_voice([ClipInput(clip, transcript)]).reference_hash
    expected = [
        ("Markets rose today.", "clips", "news", "mp3"),
        ("Rain tomorrow.", "clips", "news", "mp3"),
        ("Read by a Fish voice.", "model", "other", "wav"),
    ]
    queued = queued_render_jobs(redis_client)
    assert set(queued) == {job["job_id"] for job in jobs}
    store = JobStore(redis_client)
    for job, (text, mode, prefix, fmt) in zip(jobs, expected):
        record = store.get(job["job_id"])
        assert record is not None and (record.state, record.title) == ("queued", job["title"])
        for sent in (queued[job["job_id"]], json.loads(store.message(job["job_id"]) or "{}")):
            assert (sent["text"], sent["voice"]["mode"], sent["output"]) == (
                text,
                mode,
                {"bucket": bucket, "prefix": prefix, "format": fmt},
            )
            assert (
                sent["voice"].get("reference_hash", clip_hash) == clip_hash
                and sent["voice"].get("reference_id", "a1b2c3") == "a1b2c3"
            )
    refs = [o["Key"] for o in Storage()._client.list_objects_v2(Bucket=bucket, Prefix="refs/").get("Contents", [])]
    assert len(refs) == 1  # the clip both jobs share was uploaded once
    book_ids = [key.decode().split(":")[2] for key in redis_client.keys("narrate:book:*") if key.count(b":") == 2]
    assert [BookState(redis_client).get(book_id)["title"] for book_id in book_ids] == ["Book Two"]
