"""The producer against real Redis and S3: validate first, then upload once, record, enqueue."""

import json

import pytest
import redis

from producer.sources import TextSource
from producer.submit import ClipInput, Submitter, prepare_clip_voice
from worker import keys
from worker.celery_app import QUEUE
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


def test_submit_uploads_the_clip_once_records_and_enqueues_json(submitter, bucket, redis_client, reference_clip) -> None:
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
