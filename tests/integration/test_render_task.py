"""The render task in-process (Celery's eager mode runs each retry at once): every way an attempt ends leaves the
record right."""

from __future__ import annotations

import pytest
import redis
from celery.exceptions import SoftTimeLimitExceeded

from tests.support.jobs import clip_voice, make_job
from worker.jobs import tasks
from worker.jobs.records import JobRecord, JobStore
from worker.runtime import forget_clients
from worker.storage import Storage


@pytest.fixture
def job(stack_env, emulator, bucket, reference_clip, redis_client):
    forget_clients()  # the clients follow this test's settings
    made = make_job(
        text="A job in the task's hands.",
        voice=clip_voice(Storage(), bucket=bucket, clip=reference_clip),
        bucket=bucket,
    )
    JobStore(redis_client).create([JobRecord(job_id=made.job_id, state="queued")])
    yield made
    forget_clients()


def run(job) -> JobRecord:
    tasks.render.apply(kwargs={"job": job.model_dump(mode="json")})
    record = tasks.job_store().get(job.job_id)
    assert record is not None
    return record


@pytest.mark.parametrize(
    ("error", "says"),
    [
        (RuntimeError("a bug"), "internal error: RuntimeError: a bug"),
        (redis.ConnectionError("Connection reset by peer"), "Redis unreachable (ConnectionError)"),
    ],
)
def test_an_error_of_no_known_class_is_retried_a_bounded_number_of_times(job, monkeypatch, error, says) -> None:
    calls = []

    def broken(*args, **kwargs):
        calls.append(1)
        raise error

    monkeypatch.setattr(tasks, "render_job", broken)
    record = run(job)
    assert (
        record.state == "failed"
        and record.error == f"the job failed 6 times (NARRATE_MAX_ATTEMPTS is 6); last error: {says}"
    )
    assert len(calls) == 6, "NARRATE_MAX_ATTEMPTS bounds these too"


def test_a_soft_time_limit_while_recording_success_is_retried_not_dropped(job, monkeypatch, emulator) -> None:
    real = JobStore.mark_succeeded
    fired = []

    def slow_record(self, *args, **kwargs):
        if not fired:
            fired.append(1)
            raise SoftTimeLimitExceeded()
        return real(self, *args, **kwargs)

    monkeypatch.setattr(JobStore, "mark_succeeded", slow_record)
    record = run(job)
    assert record.state == "succeeded" and record.failures == 1, "the interrupted attempt counted once"
    assert emulator.stats()["tts_requests"] == 1, "the retry found the manifest: nothing bought twice"


def test_a_second_delivery_waits_for_the_one_rendering(job, redis_client, monkeypatch) -> None:
    from worker.renders.lease import LeaseTaken, RenderLeases

    class Rescheduled(BaseException):
        pass

    retried = []
    monkeypatch.setattr(tasks.RenderTask, "_retry", lambda self, **options: retried.append(options) or Rescheduled())
    with RenderLeases(redis_client).hold(job.job_id):
        with pytest.raises(Rescheduled):
            tasks.render.run(job=job.model_dump(mode="json"))
    assert len(retried) == 1 and retried[0]["countdown"] >= 5, "rescheduled as a wait"
    assert tasks.job_store().get(job.job_id).state == "queued", "the copy touched neither Fish nor the record"
    with pytest.raises(LeaseTaken):
        with RenderLeases(redis_client).hold(job.job_id), RenderLeases(redis_client).hold(job.job_id):
            pass


def test_the_policy_request_replaces_only_the_handlers_it_means_to() -> None:
    # Celery's Request reads its own attributes (`_payload` among them) when it fails, times out or rejects a task:
    # a helper of ours by one of those names breaks that handling, and the message is never acknowledged.
    from celery.worker.request import Request

    from worker.policy.task import PolicyRequest

    assert tasks.RenderTask.Request is PolicyRequest
    ours = {name for name in vars(PolicyRequest) if not name.startswith("__")}
    assert {name for name in ours if hasattr(Request, name)} == {"on_failure", "on_timeout"}


def test_a_dead_process_s_lease_is_released_by_its_parent_and_a_later_one_is_not(redis_client) -> None:
    import socket

    from worker import keys
    from worker.renders.lease import RenderLeases, holder_prefix

    leases, host = RenderLeases(redis_client), socket.gethostname()
    redis_client.set(keys.render_lease("job-a"), holder_prefix(host=host, pid=4242) + "token")
    redis_client.set(keys.render_lease("job-b"), holder_prefix(host=host, pid=4343) + "token")  # a later delivery's
    assert leases.release_held_by("job-a", host=host, pid=4242) is True
    assert leases.release_held_by("job-b", host=host, pid=4242) is False
    assert redis_client.exists(keys.render_lease("job-a")) == 0 and redis_client.exists(keys.render_lease("job-b")) == 1
    with leases.hold("job-c"):  # a process's own lease carries its host and pid
        import os

        assert (
            redis_client.get(keys.render_lease("job-c")).decode().startswith(holder_prefix(host=host, pid=os.getpid()))
        )


def test_a_failure_redis_cannot_record_is_tried_again_not_acknowledged_and_forgotten(job, monkeypatch) -> None:
    from worker.errors import FishUnavailable

    class Rescheduled(BaseException):
        pass

    retried = []
    monkeypatch.setattr(tasks.RenderTask, "_retry", lambda self, **options: retried.append(options) or Rescheduled())

    def busy(*args, **kwargs):
        raise FishUnavailable("the Fish API answered 503")

    def redis_gone(self, job_id):
        raise redis.ConnectionError("Connection refused")

    monkeypatch.setattr(tasks, "render_job", busy)
    monkeypatch.setattr(JobStore, "first_attempt_at", redis_gone)  # Redis goes away between the failure and its record
    with pytest.raises(Rescheduled):
        tasks.render.run(job=job.model_dump(mode="json"))
    assert retried[0]["kwargs"]["errors"] == 1, "counted in the message while Redis cannot count"
