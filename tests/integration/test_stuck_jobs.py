"""Jobs whose message is gone, found through the broker's own layout in a real Redis and sent again."""

from __future__ import annotations

import time

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app as cli
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.jobs import Submitter
from tests.support.broker_reads import broker_reads
from worker.app import QUEUE, make_app
from worker.infra.broker import PRIORITY_STEPS, in_flight
from worker.jobs.records import JobRecord, JobStore
from worker.jobs.sweep import LOST_FOR_GOOD, resend, stuck_jobs
from worker.settings import Settings, get_settings

QUEUES = (QUEUE,)
runner = CliRunner()


@pytest.fixture
def submitted(stack_env, redis_client, bucket, reference_clip) -> list[str]:
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    sources = [TextSource(f"{n}.txt", f"Stuck job number {n}.") for n in range(3)]
    return [
        job.job_id
        for job in Submitter.from_settings(Settings()).submit(sources=sources, voice=voice, out=f"s3://{bucket}/stuck")
    ]


def test_in_flight_sees_queued_and_delivered_messages(submitted: list[str], redis_client: redis.Redis) -> None:
    assert in_flight(redis_client, QUEUES).job_ids == set(submitted)
    with make_app(Settings()).connection_for_read() as connection:
        queue = connection.SimpleQueue(QUEUE)
        taken = queue.get(timeout=5)  # delivered, not acknowledged: kombu keeps it in its unacked set
        assert redis_client.llen(QUEUE) == 2
        assert in_flight(redis_client, QUEUES).job_ids == set(submitted), "a delivered message still counts"
        later = in_flight(redis_client, QUEUES, delivered_after=time.time() + 1).job_ids
        assert len(later) == 2, "a delivery older than the cutoff is left out"
        taken.ack()
        assert len(in_flight(redis_client, QUEUES).job_ids) == 2
        queue.close()


def test_the_sweeper_resends_only_what_no_queue_holds(submitted: list[str], redis_client: redis.Redis) -> None:
    store = JobStore(redis_client)
    assert stuck_jobs(store, redis_client, queues=QUEUES, older_than=0) == []
    redis_client.delete(QUEUE)
    assert stuck_jobs(store, redis_client, queues=QUEUES, older_than=3600) == [], "younger than the bound: left alone"
    lost = stuck_jobs(store, redis_client, queues=QUEUES, older_than=0)
    assert sorted(lost) == sorted(submitted)
    sent: list[str] = []
    result = resend(store, lost, send=lambda job_id, job: sent.append(job["job_id"]))
    assert sorted(sent) == sorted(submitted) == sorted(result.resent)
    assert all("re-sent" in r.error for r in store.get_many(submitted) if r)


def test_a_lost_job_with_no_kept_message_fails_saying_so(redis_client: redis.Redis, stack_env) -> None:
    store = JobStore(redis_client)
    store.create([JobRecord(job_id="a" * 32, state="queued")])  # sent by another client: no copy kept
    result = resend(store, stuck_jobs(store, redis_client, queues=QUEUES, older_than=0), send=lambda *_: None)
    assert result.failed == ["a" * 32]
    record = store.get("a" * 32)
    assert record is not None and record.state == "failed" and record.error == LOST_FOR_GOOD


def test_narrate_retry_takes_stuck_jobs_and_leaves_live_ones(
    submitted: list[str], redis_client: redis.Redis, monkeypatch
) -> None:
    waiting = runner.invoke(cli, ["retry", submitted[0]])
    assert waiting.exit_code == 1 and "not stuck" in waiting.output, "its message is in the queue"
    redis_client.delete(QUEUE)
    one = runner.invoke(cli, ["retry", submitted[0]])
    assert one.exit_code == 0 and "re-enqueued 1" in one.output
    assert in_flight(redis_client, QUEUES).job_ids == {submitted[0]}
    monkeypatch.setenv("NARRATE_SWEEP_STALE_SECONDS", "0.001")
    get_settings.cache_clear()
    rest = runner.invoke(cli, ["retry", "--stuck"])
    assert rest.exit_code == 0 and "re-enqueued 2" in rest.output
    assert in_flight(redis_client, QUEUES).job_ids == set(submitted)


def sweep_reads(client: redis.Redis, *, candidates: int) -> dict[str, int]:
    """The broker reads of one sweep over `candidates` stale jobs whose messages are lost, beside other waiting work."""
    client.flushdb()
    store = JobStore(client)
    store.create([JobRecord(job_id=f"{n:032x}", state="queued") for n in range(candidates)])
    for n in range(50):  # other work waiting, so that each read of the queue has something to read
        client.lpush(QUEUE, f'{{"body": "", "headers": {{"task": "other-{n}"}}}}')
    client.config_resetstat()
    assert len(stuck_jobs(store, client, queues=QUEUES, older_than=0)) == candidates
    return broker_reads(client)


def test_the_sweeper_reads_the_queues_twice_whatever_the_number_of_stale_jobs(
    redis_client: redis.Redis, stack_env
) -> None:
    few, many = sweep_reads(redis_client, candidates=30), sweep_reads(redis_client, candidates=300)
    assert many == few, "the broker's reads grow with the number of stale jobs"
    # Two looks (the second for messages between a queue and a worker's unacknowledged set), each one LRANGE per
    # queue and priority (one more for the queue that holds messages: the last read finds its end), one of the
    # parked work, and one HSCAN.
    assert few["lrange"] <= 2 * (len(QUEUES) * len(PRIORITY_STEPS) + 2) and few["hscan"] == 2
