"""The Fish key stays secret; Redis with a password; S3 server-side encryption; private voices."""

from __future__ import annotations

import io
import json
from pathlib import Path

import httpx
import pytest
import redis
from rich.console import Console

from producer.cli import progress
from producer.dev.services import free_port, stop_all
from producer.dev.stack import LocalStack
from producer.dev.starters import start_redis
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.jobs import Submitter
from worker.jobs.records import JobStore
from worker.settings import Settings
from worker.storage import Storage

pytestmark = pytest.mark.e2e


def every_stored_byte(client: redis.Redis) -> bytes:
    """All keys and values in Redis: records, registries, queues (task arguments), held renders."""
    out = []
    for key in client.scan_iter():
        kind = client.type(key)
        out.append(key)
        if kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"hash":
            out += [b for pair in client.hgetall(key).items() for b in pair]
        elif kind == b"list":
            out += client.lrange(key, 0, -1)
        elif kind in (b"set", b"zset"):
            out += list(client.zrange(key, 0, -1) if kind == b"zset" else client.smembers(key))
    return b"\n".join(out)


def test_the_fish_key_is_nowhere_but_the_environment(
    stack: LocalStack, stack_env, bucket, reference_clip, tmp_path
) -> None:
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]
    key = stack.env()["FISH_API_KEY"]
    wrong = "canary-wrong-key-7f3a9c"
    metrics_port = free_port()
    good = stack.add_worker(
        concurrency=1,
        extra_env={
            "NARRATE_PROMOTE_AFTER": "0",
            "NARRATE_PROMOTE_POLL_SECONDS": "0.2",
            "NARRATE_METRICS_PORT": str(metrics_port),
        },
        ready=False,
    )
    # One worker logs text, the other JSON: both outputs are searched.
    bad = stack.add_worker(
        concurrency=1,
        extra_env={"FISH_API_KEY": wrong, "NARRATE_LOG_FORMAT": "json"},
        extra_args=["--queues", "canary"],
        ready=False,
    )
    for worker in (good, bad):  # spawned side by side, then both waited for
        worker.wait_ready()
    try:
        voice = prepare_clip_voice([ClipInput(*reference_clip)])
        submitter = Submitter.from_settings(Settings())
        jobs = submitter.submit(
            sources=[TextSource("a.txt", "Secrets stay secret."), TextSource("b.txt", "Still secret.")],
            voice=voice,
            out=f"s3://{bucket}/s",
        )
        store = JobStore.from_url(Settings().broker_url)
        progress.wait_for(store, [j.job_id for j in jobs], console=Console(file=io.StringIO()), timeout=60)
        # A job on the worker with the wrong key: a 401 whose message must not echo that key either.
        from worker.app import make_app
        from worker.contract import RENDER_TASK

        scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).content
        assert b"narrate_fish_requests_total" in scraped
        good.stop()  # from here on only the worker with the wrong key may take a job
        [failing] = submitter.submit(sources=[TextSource("c.txt", "Refused.")], voice=voice, out=f"s3://{bucket}/s")
        redis.Redis.from_url(stack.redis.url).delete("narrate")  # type: ignore[union-attr]
        make_app(Settings()).send_task(RENDER_TASK, kwargs={"job": failing.model_dump(mode="json")}, queue="canary")
        [record] = progress.wait_for(store, [failing.job_id], console=Console(file=io.StringIO()), timeout=60)
        assert record.state == "failed" and "FISH_API_KEY" in record.error
    finally:
        good.stop()
        bad.stop()
        stack.services.remove(good)
        stack.services.remove(bad)
    stored = every_stored_byte(redis.Redis.from_url(stack.redis.url))  # type: ignore[union-attr]
    client = Storage()._client
    objects = b"\n".join(
        client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
        for o in client.list_objects_v2(Bucket=bucket).get("Contents", [])
        if o["Key"].endswith(".json")
    )
    logs = b"\n".join(Path(w.log_path).read_bytes() for w in (good, bad)) + scraped
    for secret in (key, wrong):
        assert secret.encode() not in stored, "in Redis (records, registry, queues)"
        assert secret.encode() not in objects, "in a manifest"
        assert secret.encode() not in logs, "in a worker log or the metrics"
    assert failing.job_id.encode() in stored, "the scan did read the job records"


def test_redis_with_a_password_works_end_to_end(
    stack: LocalStack, stack_env, bucket, reference_clip, tmp_path, monkeypatch
) -> None:
    locked = start_redis(workdir=tmp_path / "locked")
    port = int(locked.url.rsplit(":", 1)[1].split("/")[0])
    locked.stop()
    argv = [*locked.argv, "--requirepass", "correct horse battery"]
    locked.argv = argv
    locked.restart(
        ready=lambda: bool(redis.Redis(port=port, password="correct horse battery", socket_timeout=1).ping())
    )
    url = f"redis://:correct%20horse%20battery@127.0.0.1:{port}/0"
    try:
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
        monkeypatch.setenv("NARRATE_BROKER_URL", url)
        worker = stack.add_worker(concurrency=1, extra_env={"NARRATE_BROKER_URL": url, "NARRATE_PROMOTE_AFTER": "off"})
        try:
            voice = prepare_clip_voice([ClipInput(*reference_clip)])
            [job] = Submitter.from_settings(Settings()).submit(
                sources=[TextSource("p.txt", "Behind a password.")], voice=voice, out=f"s3://{bucket}/auth"
            )
            [record] = progress.wait_for(
                JobStore.from_url(url), [job.job_id], console=Console(file=io.StringIO()), timeout=60
            )
            assert record.state == "succeeded", record.error
        finally:
            stop_all([worker], kill=True)  # the test is over: nothing to finish
            stack.services.remove(worker)
    finally:
        locked.stop()


def test_outputs_and_references_can_be_encrypted_at_rest(stack_env, bucket, reference_clip, monkeypatch) -> None:
    monkeypatch.setenv("NARRATE_S3_SSE", "AES256")
    storage = Storage.from_settings(Settings())
    storage.put(bucket, "refs/x.wav", b"data", content_type="audio/wav")
    assert Storage()._client.head_object(Bucket=bucket, Key="refs/x.wav")["ServerSideEncryption"] == "AES256"
    path = Path(__file__)
    storage.put_file(bucket, "big.bin", str(path), content_type="application/octet-stream")
    assert Storage()._client.head_object(Bucket=bucket, Key="big.bin")["ServerSideEncryption"] == "AES256"
    assert json.dumps(Settings().model_dump(mode="json")).count("AES256") == 1
