"""The producer against real Redis and S3: validate first, then upload once, record, enqueue."""

import base64
import json

import pytest
import redis

from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.jobs import Submitter
from worker import keys
from worker.app import QUEUE
from worker.errors import BadInput
from worker.settings import Settings
from worker.storage import Storage


@pytest.fixture
def submitter(stack_env: dict[str, str], redis_client: redis.Redis) -> Submitter:
    return Submitter.from_settings(Settings())


def objects(bucket: str) -> list[str]:
    client = Storage()._client
    return [o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])]


SOURCES = [TextSource("one.txt", "First text."), TextSource("two.txt", "Second text.")]


def test_submit_uploads_the_clip_once_records_and_enqueues_json(
    submitter, bucket, redis_client, reference_clip
) -> None:
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    jobs = submitter.submit(sources=SOURCES, voice=voice, out=f"s3://{bucket}/books/", fmt="wav")

    assert objects(bucket) == [f"refs/{voice.clips[0].sha256}.wav"]
    assert redis_client.llen(QUEUE) == 2
    for job in jobs:
        record = redis_client.hgetall(keys.job_record(job.job_id))
        assert record[b"state"] == b"queued"
        assert job.output.prefix == "books"
    message = json.loads(redis_client.lindex(QUEUE, 0))
    assert message["headers"]["task"] == "narrate.render"
    assert message["content-type"] == "application/json"
    body = message["body"]
    assert len(body) < 4000, "the message must carry keys and hashes, never audio"


def test_an_existing_reference_is_not_uploaded_again(submitter, bucket, reference_clip) -> None:
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    key = keys.reference_clip(voice.clips[0].sha256, "wav")
    Storage().put(bucket, key, b"marker: already there", content_type="audio/wav")
    submitter.submit(sources=SOURCES[:1], voice=voice, out=f"s3://{bucket}")
    assert Storage().get(bucket, key) == b"marker: already there"


def test_missing_bucket_uploads_and_enqueues_nothing(submitter, redis_client, reference_clip) -> None:
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    with pytest.raises(BadInput, match="does not exist"):
        submitter.submit(sources=SOURCES, voice=voice, out="s3://no-such-bucket-anywhere/x")
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize("out", ["s3://bucket-x/../up", "s3://bucket-x/a\x01", "file:///tmp/x"])
def test_bad_output_uploads_and_enqueues_nothing(submitter, bucket, redis_client, reference_clip, out: str) -> None:
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    with pytest.raises(BadInput):
        submitter.submit(sources=SOURCES, voice=voice, out=out.replace("bucket-x", bucket))
    assert redis_client.dbsize() == 0
    assert objects(bucket) == []


def test_voice_id_jobs_carry_only_the_id(submitter, bucket, redis_client) -> None:
    [job] = submitter.submit(sources=SOURCES[:1], voice="a1b2c3", out=f"s3://{bucket}/v")
    assert job.voice.mode == "model"
    assert objects(bucket) == []
    assert redis_client.hget(keys.job_record(job.job_id), "voice_mode") == b"reference_id"


def test_a_thousand_jobs_are_published_in_order_with_records_and_no_text_in_the_headers(
    submitter, bucket, redis_client
) -> None:
    sources = [
        TextSource(f"{n}.txt", f"Job number {n} has its own words.") for n in range(1_100)
    ]  # more than one batch
    jobs = submitter.submit(sources=sources, voice="7f92f8afb8ec43bf81429cc1c9199cb1", out=f"s3://{bucket}/many")
    assert redis_client.zcard(keys.jobs_in_state("queued")) == 1_100
    raw = redis_client.lrange(QUEUE, 0, -1)[::-1]  # LPUSH: oldest last
    messages = [json.loads(m) for m in raw]
    assert [m["headers"]["id"] for m in messages] == [job.job_id for job in jobs]
    first = messages[0]
    assert first["headers"]["kwargsrepr"] == f"{{'job': '{jobs[0].job_id}'}}" and "own words" not in json.dumps(
        first["headers"]
    )
    _, kwargs, _ = json.loads(base64.b64decode(first["body"]))
    assert kwargs["job"]["text"] == "Job number 0 has its own words." and kwargs["job"]["job_id"] == jobs[0].job_id


def test_a_publish_that_fails_leaves_the_unsent_jobs_failed_and_retryable(
    submitter, bucket, redis_client, monkeypatch
) -> None:
    from producer.submit import publish

    real_send = publish._send
    sent = 0

    def flaky_send(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        nonlocal sent
        if sent == publish.BATCH_JOBS + 10:
            raise ConnectionError("broker went away")
        sent += 1
        return real_send(*args, **kwargs)

    monkeypatch.setattr(publish, "_send", flaky_send)
    sources = [TextSource(f"{n}.txt", f"Text {n}.") for n in range(publish.BATCH_JOBS + 50)]
    with pytest.raises(ConnectionError):
        submitter.submit(sources=sources, voice="7f92f8afb8ec43bf81429cc1c9199cb1", out=f"s3://{bucket}/cut")
    # The first batch went out whole; the failing batch's jobs are all marked failed, so `narrate retry --failed` sends
    # them.
    assert redis_client.llen(QUEUE) == publish.BATCH_JOBS
    failed = redis_client.zrange(keys.jobs_in_state("failed"), 0, -1)
    assert len(failed) == 50
    assert b"narrate retry --failed" in redis_client.hget(keys.job_record(failed[0].decode()), "error")


def test_submitting_in_a_loop_checks_the_bucket_once_but_uploads_each_new_voice(
    submitter, bucket, redis_client, reference_clip, short_clip, monkeypatch
) -> None:
    checks = []
    real_check = Storage.check_bucket
    monkeypatch.setattr(Storage, "check_bucket", lambda self, name: checks.append(name) or real_check(self, name))
    first = prepare_clip_voice([ClipInput(*reference_clip)])
    for n in range(5):
        submitter.submit(sources=[TextSource(f"{n}.txt", "Again.")], voice=first, out=f"s3://{bucket}/loop")
    second = prepare_clip_voice([ClipInput(*short_clip)])
    submitter.submit(sources=[TextSource("x.txt", "Another voice.")], voice=second, out=f"s3://{bucket}/loop")
    assert checks == [bucket]
    assert sorted(objects(bucket)) == sorted(f"refs/{v.clips[0].sha256}.wav" for v in (first, second))


def test_a_batch_sends_what_was_added_in_bulk_and_refuses_bad_text_alone(submitter, bucket, redis_client) -> None:
    with pytest.raises(RuntimeError, match="the loop broke"):
        with submitter.batch(voice="7f92f8afb8ec43bf81429cc1c9199cb1", out=f"s3://{bucket}/batch", size=3) as batch:
            for n in range(7):
                batch.add(f"Story {n}.", title=f"story-{n}")
                if n == 4:
                    assert redis_client.llen(QUEUE) == 3  # one full batch sent, two waiting
                    with pytest.raises(BadInput, match="empty|text"):
                        batch.add("")
                if n == 5:
                    raise RuntimeError("the loop broke")
    # What was added before the error is sent: 6 valid jobs, the empty text refused alone.
    assert [job.title for job in batch.sent] == [f"story-{n}" for n in range(6)]
    assert redis_client.llen(QUEUE) == 6 and redis_client.zcard(keys.jobs_in_state("queued")) == 6


def test_a_message_sent_in_bulk_is_the_one_send_task_sends(stack_env, redis_client) -> None:
    """The bulk path takes Celery's send_task apart (route once, no per-call set-up): what it publishes must not
    drift."""
    from producer.submit.publish import send_render_jobs
    from tests.integration.test_sent_events import render_jobs
    from worker.app import make_app
    from worker.contract import RENDER_TASK

    job = render_jobs(1)[0]
    app = make_app(Settings())
    app.send_task(
        RENDER_TASK,
        kwargs={"job": job.model_dump(mode="json")},
        task_id=job.job_id,
        argsrepr="()",
        kwargsrepr=f"{{'job': '{job.job_id}'}}",
    )
    send_render_jobs(app, [job], on_unsent=lambda *_: None)
    bulk, single = (json.loads(m) for m in redis_client.lrange(QUEUE, 0, 1))  # LPUSH: the latest first
    changing = {"narrate_sent_at", "delivery_tag"}
    for part in ("headers", "properties"):
        assert {k: v for k, v in bulk[part].items() if k not in changing} == {
            k: v for k, v in single[part].items() if k not in changing
        }
    assert bulk["body"] == single["body"] and bulk["content-type"] == single["content-type"]
