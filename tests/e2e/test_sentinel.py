"""Redis Sentinel end to end: producer, worker and beat reach Redis only through a real Sentinel, which names the
master."""

from __future__ import annotations

import subprocess
import time

import pytest
import redis

from producer.dev.services import free_port, stop_all
from producer.dev.starters import redis_server_binary, start_redis
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.jobs import Submitter
from worker.jobs.records import JobStore
from worker.settings import Settings, get_settings

pytestmark = pytest.mark.e2e
MASTER = "narrate-master"


@pytest.fixture
def sentinel(tmp_path):  # noqa: ANN201
    master = start_redis(workdir=tmp_path / "master")
    master_port = redis.Redis.from_url(master.url).connection_pool.connection_kwargs["port"]
    port = free_port()
    config = tmp_path / "sentinel.conf"  # Sentinel rewrites its file: it must be its own
    config.write_text(f"port {port}\nbind 127.0.0.1\nsentinel monitor {MASTER} 127.0.0.1 {master_port} 1\n")
    process = subprocess.Popen(
        [redis_server_binary(), str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    client = redis.Redis(port=port, socket_timeout=1)
    deadline = time.monotonic() + 20
    while True:
        try:
            if client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER):
                break
        except redis.RedisError:
            pass
        assert time.monotonic() < deadline, "Sentinel did not come up"
        time.sleep(0.1)
    yield (
        f"sentinel://127.0.0.1:{port}/0;sentinel://127.0.0.1:{free_port()}/0",
        master,
    )  # the second Sentinel is down: clients go on
    process.terminate()
    process.wait(timeout=10)
    stop_all([master], kill=True)


def test_producer_worker_and_beat_go_through_sentinel(
    stack, stack_env, sentinel, bucket, emulator, reference_clip, monkeypatch
) -> None:
    url, master = sentinel
    env = {"NARRATE_BROKER_URL": url, "NARRATE_REDIS_MASTER_NAME": MASTER}
    worker = stack.add_worker(concurrency=1, extra_env={**env, "NARRATE_PROMOTE_AFTER": "off"}, extra_args=["-B"])
    try:
        voice = prepare_clip_voice([ClipInput(*reference_clip)])
        # The producer's settings are given, not read from its environment (which names neither): they are what it uses.
        given = Settings(broker_url=url, redis_master_name=MASTER)
        [job] = Submitter.from_settings(given).submit(
            sources=[TextSource("ha", "Spoken through a Sentinel.")], voice=voice, out=f"s3://{bucket}/sentinel"
        )
        store = JobStore.from_url(url, master_name=MASTER)
        deadline = time.monotonic() + 60
        while not ((record := store.get(job.job_id)) and record.finished):
            assert time.monotonic() < deadline, f"job not finished: {record}"
            time.sleep(0.2)
        assert record.state == "succeeded", record.error
        direct = redis.Redis.from_url(master.url)
        assert JobStore(direct).get(job.job_id).state == "succeeded"  # the record is on the master Sentinel named
        deadline = time.monotonic() + 30
        while not any(direct.scan_iter(match="narrate:redbeat:worker*")):  # beat keeps its schedule there too
            assert time.monotonic() < deadline, "beat never reached the master"
            time.sleep(0.2)
        with pytest.raises(ValueError, match="NARRATE_REDIS_MASTER_NAME"):
            Settings(broker_url=url, redis_master_name="")
    finally:
        stop_all([worker], kill=True)
        stack.services.remove(worker)
        stack.workers.remove(worker)
        get_settings.cache_clear()
