"""The fault suite: kill, restart and starve real processes mid-batch; nothing lost, nothing done twice.

Each scenario appends a row to the table printed at the end of the run
(and written to fault-report.json; `python -m tests.faults.report` prints it again).
"""

from __future__ import annotations

import signal
import time

import httpx
import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from tests.faults.conftest import Batch
from tests.support.tcpproxy import TcpProxy
from worker.infra.parking import Parking

pytestmark = [pytest.mark.e2e, pytest.mark.fault]


def test_1_a_worker_killed_mid_render_loses_nothing(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(latency=1.5)
    doomed, _ = fault_workers(count=2)
    batch = Batch(scenario="1-sigkill-worker", count=8, bucket=bucket, voice=voice)
    batch.wait_for(lambda: batch.count("running") >= 2, timeout=30)
    in_flight = emulator.stats()["in_flight"]
    doomed.kill_group()
    batch.finish(timeout=120)
    row = batch.row(emulator)
    assert row.succeeded == 8 and row.lost == 0 and row.duplicates == 0
    assert row.extra_fish_calls <= max(in_flight, 2), "only requests in flight at the kill may be made again"


def test_2_redis_restarted_mid_batch_loses_nothing(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(latency=0.3)
    fault_workers(count=2)
    batch = Batch(scenario="2-restart-redis", count=16, bucket=bucket, voice=voice)
    batch.wait_for(lambda: batch.count("succeeded") >= 5, timeout=60)
    port = int(stack.redis.url.rsplit(":", 1)[1].split("/")[0])
    stack.redis.restart(ready=lambda: bool(redis.Redis(port=port, socket_timeout=1).ping()))
    batch.finish(timeout=180)
    row = batch.row(emulator)
    assert row.succeeded == 16 and row.failed == 0 and row.lost == 0 and row.duplicates == 0
    assert row.extra_fish_calls <= 4, "at most the requests in flight during the restart"


def test_3_a_flaky_fish_api_is_ridden_out(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(rate_limit_rate=0.3, fail_rate=0.1, stall_rate=0.05, stall_seconds=3, seed=7)
    fault_workers(count=2, NARRATE_FISH_TIMEOUT_SECONDS="1.5")
    batch = Batch(scenario="3-429-500-stalls", count=20, bucket=bucket, voice=voice)
    batch.finish(timeout=240)
    row = batch.row(emulator)
    errors = emulator.stats()["errors_by_status"]
    assert row.succeeded == 20 and row.lost == 0 and row.duplicates == 0
    assert row.extra_fish_calls <= emulator.stats()["stalled"], (
        "only requests the client gave up on were answered twice"
    )
    assert row.retries >= errors.get("429", 0) // 2 > 0, "the manifests count the retries"
    assert all(r.attempts <= 12 for r in batch.store().get_many(batch.ids) if r), "retries stay within bounds"


def test_4_s3_down_for_a_while_then_back(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(latency=0.3)
    s3_port = int(stack.s3.url.rsplit(":", 1)[1])
    proxy = TcpProxy(target_port=s3_port).start()
    try:
        fault_workers(count=2, AWS_ENDPOINT_URL=proxy.url)
        batch = Batch(scenario="4-s3-outage", count=20, bucket=bucket, voice=voice)
        batch.wait_for(lambda: batch.count("succeeded") >= 4, timeout=60)
        proxy.stop()
        time.sleep(4)
        assert batch.count("succeeded") < 20, "the outage must hit the batch"
        proxy.start()
        batch.finish(timeout=180)
    finally:
        proxy.stop()
    row = batch.row(emulator)
    assert row.succeeded == 20 and row.lost == 0 and row.duplicates == 0 and row.retries > 0
    assert row.extra_fish_calls == 0, "renders S3 could not take were held in Redis, not bought again"


def test_5_the_cap_keeps_fish_under_its_concurrency_limit(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(latency=0.2, concurrency=3)
    # Six renders at a time, from two workers, want three slots: the cap, not the demand, keeps Fish at three.
    fault_workers(count=2, concurrency=3, NARRATE_FISH_CONCURRENCY="3")
    batch = Batch(scenario="5-cluster-cap", count=24, bucket=bucket, voice=voice)
    batch.finish(timeout=240)
    row = batch.row(emulator)
    stats = emulator.stats()
    assert row.succeeded == 24 and row.lost == 0
    assert stats["peak_in_flight"] <= 3
    assert stats["errors_by_status"].get("429", 0) == 0


def test_6_no_credit_opens_the_breaker_and_resume_finishes_the_batch(
    fault_workers, stack, stack_env, emulator, bucket, voice
) -> None:
    emulator.control(credit="0")
    fault_workers(count=2)
    batch = Batch(scenario="6-402-breaker", count=10, bucket=bucket, voice=voice)
    store = batch.store()
    batch.wait_for(lambda: all(r and "paused" in r.error for r in store.get_many(batch.ids)), timeout=60)
    time.sleep(3)
    assert batch.count("failed") == 0 and batch.count("succeeded") == 0
    refused = emulator.stats()["errors_by_status"].get("402", 0)
    assert 1 <= refused <= 4, "once open, the breaker stops calls to Fish"
    client = redis.Redis.from_url(stack_env["NARRATE_BROKER_URL"])
    assert Parking(client).count() == 10, (
        "every job parked: one list entry each, no task re-publishing itself meanwhile"
    )
    assert client.llen("narrate") == 0 and client.hlen("unacked") == 0
    status = CliRunner().invoke(app, ["status", batch.ids[0]])
    assert "narrate resume" in status.output
    emulator.control(credit="100")
    assert "resumed" in CliRunner().invoke(app, ["resume"]).output
    batch.finish(timeout=120)
    row = batch.row(emulator)
    assert row.succeeded == 10 and row.failed == 0 and row.lost == 0
    assert emulator.stats()["errors_by_status"].get("402", 0) == refused


def test_sigterm_lets_the_running_job_finish(fault_workers, stack, emulator, bucket, voice) -> None:
    emulator.control(latency=1.5)
    [worker] = fault_workers(concurrency=1)
    batch = Batch(scenario="7-sigterm", count=1, bucket=bucket, voice=voice)
    batch.wait_for(lambda: batch.count("running") == 1, timeout=30)
    worker.process.send_signal(signal.SIGTERM)
    assert worker.process.wait(timeout=30) == 0
    assert batch.count("succeeded") == 1, "the job in hand was finished before the worker left"
    assert httpx.get(f"{emulator.url}/_emulator/health").status_code == 200
