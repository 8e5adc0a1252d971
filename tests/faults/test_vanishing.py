"""The paths where a job used to vanish: killed at its hard limit, killing its worker, an unpublishable retry, a lost
message.

Each scenario adds its row to the fault suite's table.
"""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest
import redis

from tests.faults.conftest import Batch
from worker.jobs.records import JobRecord

_NONE = JobRecord(job_id="0" * 32, state="queued")

pytestmark = [pytest.mark.e2e, pytest.mark.fault]


def pool_pid(batch: Batch, job_id: str) -> int | None:
    record = batch.store().get(job_id)
    if record is None or record.state != "running" or ":" not in record.worker:
        return None
    return int(record.worker.rsplit(":", 1)[1])


def test_8_a_render_frozen_past_its_hard_limit_runs_again(fault_workers, emulator, bucket, voice) -> None:
    emulator.control(latency=1.5)
    # Time limits shorter than the suite's (and the visibility timeout above them, as settings require): the wait
    # for the hard limit is most of this test.
    fault_workers(NARRATE_TASK_SOFT_TIME_LIMIT="4", NARRATE_TASK_TIME_LIMIT="5", NARRATE_VISIBILITY_TIMEOUT="8")
    batch = Batch(scenario="8-hard-time-limit", count=1, bucket=bucket, voice=voice)
    batch.wait_for(lambda: pool_pid(batch, batch.ids[0]) is not None, timeout=30)
    # A stopped process cannot run its soft-limit handler: only the parent's hard limit ends it.
    os.kill(pool_pid(batch, batch.ids[0]), signal.SIGSTOP)
    batch.finish(timeout=60)
    row = batch.row(emulator)
    [record] = batch.store().get_many(batch.ids)
    assert row.succeeded == 1 and row.lost == 0 and row.duplicates == 0
    assert record is not None and record.attempts == 2, "the killed attempt counted, and the job ran again"


def test_9_a_job_that_kills_its_worker_every_time_ends(fault_workers, emulator, bucket, voice) -> None:
    emulator.control(latency=0.5)
    fault_workers(count=2, NARRATE_MAX_ATTEMPTS="3")
    batch = Batch(scenario="9-worker-dies-every-time", count=7, bucket=bucket, voice=voice)
    poison = batch.ids[-1]  # queued behind the others
    killed: set[int] = set()
    stop = threading.Event()

    def kill_whoever_renders_it() -> None:
        while not stop.is_set():
            pid = pool_pid(batch, poison)
            if pid is not None and pid not in killed:
                killed.add(pid)
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_whoever_renders_it, daemon=True)
    killer.start()
    try:
        batch.finish(timeout=120)
    finally:
        stop.set()
        killer.join()
    row = batch.row(emulator)
    record = batch.store().get(poison)
    assert record is not None and record.state == "failed" and "was killed 3 times" in record.error
    assert len(killed) == 3 and record.deaths == 3, "each death counted once, and the job was not handed out again"
    assert row.succeeded == 6 and row.failed == 1 and row.lost == 0 and row.duplicates == 0


def test_10_a_retry_redis_will_not_take_is_not_dropped(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(latency=2, fail_status=500, fail_count=1)
    fault_workers(NARRATE_SWEEP_SECONDS="1", NARRATE_SWEEP_STALE_SECONDS="3", extra_args=["-B"])
    batch = Batch(scenario="10-unpublishable-retry", count=1, bucket=bucket, voice=voice)
    batch.wait_for(lambda: batch.count("running") == 1, timeout=30)
    client = redis.Redis.from_url(stack.redis.url)  # type: ignore[union-attr]
    # Redis takes no new messages for a while (LPUSH refused) while the rest still works: the 500 needs a
    # retry, Celery cannot publish it, turns it into Reject(requeue=False), and the message is deleted.
    client.acl_setuser(
        "default", enabled=True, nopass=True, keys=["*"], channels=["*"], commands=["+@all", "-lpush"], reset=True
    )
    try:
        batch.wait_for(lambda: "attempt 1 failed" in (batch.store().get(batch.ids[0]) or _NONE).error, timeout=30)
        time.sleep(1.5)
    finally:
        client.acl_setuser(
            "default", enabled=True, nopass=True, keys=["*"], channels=["*"], commands=["+@all"], reset=True
        )
    batch.finish(timeout=60)
    row = batch.row(emulator)
    assert row.succeeded == 1 and row.lost == 0 and row.duplicates == 0


def test_11_jobs_whose_messages_were_lost_are_swept_back(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(latency=0.2)
    batch = Batch(scenario="11-lost-messages", count=5, bucket=bucket, voice=voice)
    client = redis.Redis.from_url(stack.redis.url)  # type: ignore[union-attr]
    assert client.llen("narrate") == 5
    client.delete("narrate")  # a failover that lost the queue's writes
    fault_workers(NARRATE_SWEEP_SECONDS="1", NARRATE_SWEEP_STALE_SECONDS="2", extra_args=["-B"])
    batch.finish(timeout=60)
    row = batch.row(emulator)
    assert row.succeeded == 5 and row.lost == 0 and row.duplicates == 0 and row.extra_fish_calls == 0


def test_12_a_job_longer_than_its_soft_limit_goes_on_where_it_stopped(fault_workers, emulator, bucket, voice) -> None:
    emulator.control(latency=0.6)
    fault_workers(NARRATE_MAX_ATTEMPTS="2", NARRATE_CHUNK_BYTES="100")
    text = " ".join(f"Sentence number {n} of a job that takes longer than one attempt may run." for n in range(24))
    batch = Batch(scenario="12-long-job", count=1, bucket=bucket, voice=voice, texts=[text])
    batch.finish(timeout=90)
    [record] = batch.store().get_many(batch.ids)
    assert record is not None and record.state == "succeeded", record and record.error
    assert record.failures == 0, "14 s of rendering crossed the 5 s soft limit twice; neither counted as a failure"
    chunks = [r for r in emulator.requests() if r["status"] == 200 and r["kind"] == "tts"]
    assert 24 <= len(chunks) <= 24 + 3, "each chunk bought once, but for one in flight at each soft limit"
    batch.row(emulator)


def test_13_a_broker_connection_cut_mid_render_pays_nothing_twice(
    fault_workers, stack, emulator, bucket, voice
) -> None:
    from tests.support.tcpproxy import TcpProxy

    emulator.control(latency=4)
    redis_port = int(stack.redis.url.rsplit(":", 1)[1].split("/")[0])
    proxy = TcpProxy(target_port=redis_port).start()
    try:
        [cut_off] = fault_workers(NARRATE_BROKER_URL=f"redis://127.0.0.1:{proxy.port}/0")
        batch = Batch(scenario="13-connection-cut", count=2, bucket=bucket, voice=voice)
        batch.wait_for(lambda: batch.count("running") == 2, timeout=30)
        fault_workers()  # another worker, ready to take whatever the broker hands out again
        # The cut-off worker's renders go on; the broker restores its unacknowledged messages at once.
        proxy.reset_connections()
        batch.finish(timeout=90)
        assert cut_off.process.poll() is None
    finally:
        proxy.stop()
    row = batch.row(emulator)
    assert row.succeeded == 2 and row.lost == 0 and row.duplicates == 0
    assert row.extra_fish_calls == 0, "the copies waited on the render lease, then found the job done"
