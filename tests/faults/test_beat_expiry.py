"""A beat message that waited past its expiry is dropped by a real worker, never run late; a fresh one runs."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
import redis
from celery import Celery

from worker.app import make_app
from worker.contract import JOB_SWEEP_TASK
from worker.jobs.records import JobRecord, JobStore
from worker.jobs.sweep import LOST_FOR_GOOD
from worker.settings import Settings

pytestmark = [pytest.mark.e2e, pytest.mark.fault]  # a real worker, as every test of the fault suite
LOST = "b" * 32


def wait_for(predicate: Callable[[], bool], *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.2)


def revoked(app: Celery, task_id: str) -> bool:
    """Celery's worker records a message it dropped as expired among its revoked tasks."""
    answers = app.control.inspect(timeout=2).revoked() or {}
    return any(task_id in ids for ids in answers.values())


def test_an_expired_sweep_is_discarded_and_the_next_one_runs(fault_workers, stack_env) -> None:
    fault_workers(
        NARRATE_SWEEP_STALE_SECONDS="0.001"
    )  # a worker without --queues takes every queue, narrate.beat included
    store = JobStore(redis.Redis.from_url(stack_env["NARRATE_BROKER_URL"]))
    store.create([JobRecord(job_id=LOST, state="queued")])  # its message is lost: a sweep that runs fails it
    app = make_app(Settings())
    late = app.send_task(JOB_SWEEP_TASK, expires=datetime.now(UTC) - timedelta(seconds=60))
    wait_for(lambda: revoked(app, late.id), timeout=30)
    assert store.get(LOST).state == "queued", "the expired sweep ran"  # type: ignore[union-attr]
    app.send_task(JOB_SWEEP_TASK, expires=60)
    wait_for(lambda: store.get(LOST).state == "failed", timeout=30)  # type: ignore[union-attr]
    assert store.get(LOST).error == LOST_FOR_GOOD  # type: ignore[union-attr]
