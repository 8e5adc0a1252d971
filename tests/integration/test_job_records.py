"""Job records in a real Redis: what a record keeps of its message, and the finished states' sets going with their
records."""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app as cli
from producer.readers.text import TextSource
from producer.submit.jobs import Submitter
from tests.integration.test_submit import SOURCES
from worker import keys
from worker.app import QUEUE
from worker.contract import RenderJob
from worker.jobs import kept_message
from worker.jobs.records import JobRecord, JobStore
from worker.jobs.sweep import resend
from worker.settings import Settings

VOICE_ID = "7f92f8afb8ec43bf81429cc1c9199cb1"
TTL = 3600
runner = CliRunner()


@pytest.fixture
def jobs(stack_env: dict[str, str], redis_client: redis.Redis, bucket: str) -> list[RenderJob]:
    return Submitter.from_settings(Settings()).submit(sources=SOURCES, voice=VOICE_ID, out=f"s3://{bucket}/kept")


def raw_message(client: redis.Redis, job_id: str) -> bytes | None:
    return client.hget(keys.job_record(job_id), "message")


def test_a_queued_job_keeps_its_message_compressed(jobs: list[RenderJob], redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    for job in jobs:
        kept = raw_message(redis_client, job.job_id)
        assert kept is not None and not kept.startswith(b"{"), "kept as sent, not compressed"
        assert RenderJob.model_validate_json(store.message(job.job_id) or "") == job


def test_a_queued_record_writes_only_what_is_set_and_reads_whole(
    jobs: list[RenderJob], redis_client: redis.Redis
) -> None:
    fields = set(redis_client.hkeys(keys.job_record(jobs[0].job_id)))
    assert b"error" not in fields and b"deaths" not in fields and b"finished_at" not in fields
    record = JobStore(redis_client).get(jobs[0].job_id)
    assert record is not None and record.state == "queued" and record.error == "" and record.deaths == 0
    assert record.title == "one.txt" and record.voice_mode == "reference_id" and record.text_bytes == len("First text.")


def test_a_succeeded_job_drops_its_message_and_a_failed_one_keeps_it(
    jobs: list[RenderJob], redis_client: redis.Redis
) -> None:
    store = JobStore(redis_client, ttl_seconds=TTL)
    done, failed = jobs
    store.mark_succeeded(done.job_id, output_url="s3://b/k.mp3")
    store.mark_failed(failed.job_id, error="Fish said no")
    assert raw_message(redis_client, done.job_id) is None and store.message(done.job_id) is None
    assert RenderJob.model_validate_json(store.message(failed.job_id) or "") == failed
    assert 0 < redis_client.ttl(keys.job_record(failed.job_id)) <= TTL, "a failed record and its message expire"


def test_narrate_retry_sends_a_failed_job_from_its_kept_message(
    jobs: list[RenderJob], redis_client: redis.Redis
) -> None:
    failed = jobs[0]
    redis_client.delete(QUEUE)
    JobStore(redis_client).mark_failed(failed.job_id, error="Fish said no")
    result = runner.invoke(cli, ["retry", failed.job_id])
    assert result.exit_code == 0, result.output
    body = json.loads(base64.b64decode(json.loads(redis_client.lindex(QUEUE, 0))["body"]))
    assert RenderJob.model_validate(body[1]["job"]) == failed
    record = JobStore(redis_client).get(failed.job_id)
    assert record is not None and record.state == "queued"


def test_the_sweeper_resends_a_lost_job_from_its_kept_message(jobs: list[RenderJob], redis_client: redis.Redis) -> None:
    sent: dict[str, dict] = {}
    resend(JobStore(redis_client), [jobs[1].job_id], send=lambda job_id, job: sent.update({job_id: job}))
    assert RenderJob.model_validate(sent[jobs[1].job_id]) == jobs[1]


def test_an_uncompressed_message_of_an_older_record_is_read(
    stack_env: dict[str, str], redis_client: redis.Redis
) -> None:
    message = json.dumps({"job_id": "b" * 32, "text": "Kept as it was sent."})
    redis_client.hset(keys.job_record("b" * 32), mapping={"job_id": "b" * 32, "state": "failed", "message": message})
    assert JobStore(redis_client).message("b" * 32) == message


def test_a_message_too_large_even_compressed_is_not_kept(stack_env: dict[str, str], redis_client: redis.Redis) -> None:
    noise = base64.b64encode(os.urandom(kept_message.MAX_KEPT_BYTES)).decode()  # does not compress below the bound
    store = JobStore(redis_client)
    store.create([JobRecord(job_id="c" * 32, state="queued")], messages={"c" * 32: json.dumps({"text": noise})})
    assert store.message("c" * 32) is None and store.get("c" * 32) is not None
    assert kept_message.unpack(kept_message.pack("short") or b"") == "short"


def test_finished_jobs_leave_their_state_sets_with_their_records(
    stack_env: dict[str, str], redis_client: redis.Redis
) -> None:
    store = JobStore(redis_client, ttl_seconds=TTL)
    long_ago = time.time() - TTL - 60  # entered a final state over a TTL ago: its record has expired
    for state in ("succeeded", "failed"):
        redis_client.zadd(keys.jobs_in_state(state), {f"old-{state}": long_ago, f"recent-{state}": time.time() - 60})
    store.create([JobRecord(job_id=job_id, state="queued") for job_id in ("d" * 32, "e" * 32)])

    store.mark_succeeded("d" * 32)
    assert store.in_state("succeeded") == ["recent-succeeded", "d" * 32]
    assert store.in_state("failed") == ["recent-failed"], "the other final state is trimmed in the same step"
    store.mark_failed("e" * 32, error="Fish said no")
    assert store.in_state("failed") == ["recent-failed", "e" * 32]
    # Nothing else entering for a TTL: each set goes whole, with the last of its members' records.
    for state, job_id in (("succeeded", "d" * 32), ("failed", "e" * 32)):
        assert 0 < redis_client.ttl(keys.jobs_in_state(state)) <= TTL
        assert 0 < redis_client.ttl(keys.job_record(job_id)) <= TTL


def test_with_a_short_ttl_nothing_of_a_finished_job_stays(stack_env: dict[str, str], redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, ttl_seconds=1)
    store.create([JobRecord(job_id="f" * 32, state="queued")], messages={"f" * 32: '{"text": "short"}'})
    store.mark_running("f" * 32, attempt=1)
    store.mark_succeeded("f" * 32)
    deadline = time.monotonic() + 10
    while redis_client.keys("narrate:*") and time.monotonic() < deadline:
        time.sleep(0.1)  # Redis expires keys on its own clock
    assert redis_client.keys("narrate:*") == []
    store.mark_failed("0" * 32, error="x")  # a later job finishing finds nothing of the first
    assert store.in_state("succeeded") == [] and store.in_state("failed") == ["0" * 32]


def test_a_job_retried_leaves_the_failed_set(jobs: list[RenderJob], redis_client: redis.Redis) -> None:
    store = JobStore(redis_client, ttl_seconds=TTL)
    store.mark_failed(jobs[0].job_id, error="Fish said no")
    store.requeue(jobs[0].job_id)
    assert jobs[0].job_id not in store.in_state("failed") and redis_client.ttl(keys.job_record(jobs[0].job_id)) == -1
    assert store.message(jobs[0].job_id) is not None


def test_submitted_sources_with_unicode_round_trip(
    stack_env: dict[str, str], redis_client: redis.Redis, bucket: str
) -> None:
    sources = [TextSource("ü.txt", "Ça va? Grüße — 你好.")]
    job = Submitter.from_settings(Settings()).submit(sources=sources, voice=VOICE_ID, out=f"s3://{bucket}/u")[0]
    assert RenderJob.model_validate_json(JobStore(redis_client).message(job.job_id) or "") == job
