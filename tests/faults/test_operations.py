"""Operating a batch that hit trouble: retry and purge failed jobs, bounded retry time, the credit check."""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from producer.cli.main import app
from producer.dev.services import stop_all
from tests.faults.conftest import Batch
from worker.fish.breaker import CreditBreaker

pytestmark = [pytest.mark.e2e, pytest.mark.fault]
runner = CliRunner()


def test_failed_jobs_can_be_retried_and_purged(fault_workers, stack_env, emulator, bucket, voice) -> None:
    emulator.control(fail_status=403, fail_count=3)
    fault_workers()
    batch = Batch(scenario="ops-retry", count=3, bucket=bucket, voice=voice)
    batch.wait_for(lambda: batch.count("failed") == 3, timeout=60)

    one = runner.invoke(app, ["retry", batch.ids[0]])
    assert one.exit_code == 0 and "re-enqueued 1" in one.output
    batch.wait_for(lambda: batch.count("succeeded") == 1, timeout=60)
    rest = runner.invoke(app, ["retry", "--failed"])
    assert rest.exit_code == 0 and "re-enqueued 2" in rest.output
    batch.finish(timeout=60)
    assert batch.count("succeeded") == 3
    not_failed = runner.invoke(app, ["retry", batch.ids[0]])
    assert not_failed.exit_code == 1 and "not stuck" in not_failed.output and "left alone" in not_failed.output

    emulator.control(fail_status=403, fail_count=1)
    doomed = Batch(scenario="ops-purge", count=1, bucket=bucket, voice=voice)
    doomed.wait_for(lambda: doomed.count("failed") == 1, timeout=60)
    kept = runner.invoke(app, ["purge", "--failed", "--older-than", "1"])
    assert "purged 0" in kept.output and doomed.store().get(doomed.ids[0]) is not None
    purged = runner.invoke(app, ["purge", "--failed", "--older-than", "0"])
    assert "purged 1" in purged.output and doomed.store().get(doomed.ids[0]) is None


def test_retrying_stops_at_the_total_time_bound(fault_workers, emulator, bucket, voice) -> None:
    emulator.control(fail_rate=1.0)
    fault_workers(NARRATE_MAX_ATTEMPTS="1000", NARRATE_MAX_RETRY_SECONDS="2")
    batch = Batch(scenario="ops-time-bound", count=1, bucket=bucket, voice=voice)
    started = time.monotonic()
    batch.wait_for(lambda: batch.count("failed") == 1, timeout=60)
    assert time.monotonic() - started < 30
    [record] = batch.store().get_many(batch.ids)
    assert record is not None and "gave up after" in record.error and record.failures >= 2


def test_the_credit_check_closes_the_breaker_by_itself(fault_workers, stack, emulator, bucket, voice) -> None:
    import redis

    emulator.control(credit="0")
    # beat alone (its worker listens to a queue nobody uses): it only schedules the credit check
    beat = stack.add_worker(
        concurrency=1,
        extra_env={"NARRATE_CREDIT_CHECK_SECONDS": "1"},
        extra_args=["-B", "--queues", "idle"],
        ready=False,
    )
    try:
        fault_workers()  # starts while beat does
        beat.wait_ready()
        batch = Batch(scenario="ops-credit-check", count=3, bucket=bucket, voice=voice)
        breaker = CreditBreaker(redis.Redis.from_url(stack.redis.url))  # type: ignore[union-attr]
        batch.wait_for(lambda: breaker.status() is not None, timeout=30)
        emulator.control(credit="50")
        batch.wait_for(lambda: breaker.status() is None, timeout=30)
        batch.finish(timeout=90)
        assert batch.count("succeeded") == 3
    finally:
        stop_all([beat], kill=True)  # the test is over: nothing to finish
        stack.services.remove(beat)
