"""The webhook tasks of single jobs and batches, and what starts them when a job ends.

A job's record names its webhook (`notify_url`) and its batch (`notify_batch`):
the producer writes them with the record, and the worker from the message when a
producer made no record. Whichever way a job ends (its render, the failure
policy, the sweeper), the job store calls `on_job_finished`, which claims the
notice once per ending and sends the task that delivers it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import redis
from celery import signals
from pydantic import ValidationError

from worker import keys
from worker.app import app
from worker.contract import ASSEMBLY_QUEUE, BATCH_NOTIFY_TASK, JOB_NOTIFY_TASK, RENDER_TASK, Notify
from worker.jobs import records
from worker.jobs.message import job_id_of, payload_of
from worker.policy.task import PolicyTask
from worker.runtime import redis_client
from worker.settings import get_settings
from worker.webhooks.batches import Batches
from worker.webhooks.outcome import deliver
from worker.webhooks.units import BatchNotifyUnit, JobNotifyUnit, batch_payload, job_payload

log = logging.getLogger("narrate.webhooks")


def _hex_id(task: PolicyTask, args: tuple[Any, ...], kwargs: dict[str, Any], *, name: str) -> str | None:
    """The one id a notify message carries (32 hex characters), or None for a malformed message, logged."""
    value = args[0] if args else kwargs.get(name)
    if isinstance(value, str) and re.fullmatch(r"[0-9a-f]{32}", value):
        return value
    log.error("refused a malformed %s message: no %s", task.name, name)
    return None


class JobNotifyTask(PolicyTask):
    name = JOB_NOTIFY_TASK

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobNotifyUnit | None:
        settings, job_id = get_settings(), _hex_id(self, args, kwargs, name="job_id")
        if job_id is None:
            return None
        return JobNotifyUnit(
            redis_client(), job_id, max_attempts=settings.webhook_max_attempts, ttl_seconds=settings.record_ttl_seconds
        )

    def perform(self, unit: JobNotifyUnit) -> None:
        record = unit.record()
        if record.get("notify_url"):  # an expired record has nobody left to tell
            deliver(unit, record["notify_url"], job_payload(unit.job_id, record))


class BatchNotifyTask(PolicyTask):
    name = BATCH_NOTIFY_TASK

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> BatchNotifyUnit | None:
        settings, batch_id = get_settings(), _hex_id(self, args, kwargs, name="batch_id")
        if batch_id is None:
            return None
        batches = Batches(redis_client(), ttl_seconds=settings.record_ttl_seconds)
        return BatchNotifyUnit(
            batches,
            redis_client(),
            batch_id,
            max_attempts=settings.webhook_max_attempts,
            ttl_seconds=settings.record_ttl_seconds,
        )

    def perform(self, unit: BatchNotifyUnit) -> None:
        batch = unit.batches.get(unit.batch_id) or {}
        if batch.get("url"):
            deliver(unit, batch["url"], batch_payload(unit.batch_id, batch))


job_notify = app.register_task(JobNotifyTask())
batch_notify = app.register_task(BatchNotifyTask())


def on_job_finished(job_id: str, state: str, url: str, batch_id: str) -> None:
    """A job with a webhook ended: claim its notice (once per ending) and its batch's count, and send what is due."""
    client, ttl = redis_client(), get_settings().record_ttl_seconds
    if url:
        _best_effort(
            job_id,
            lambda: (
                client.hsetnx(keys.job_record(job_id), "notify_claim", state)
                and job_notify.apply_async((job_id,), queue=ASSEMBLY_QUEUE)
            ),
        )
    if batch_id:
        _best_effort(
            job_id,
            lambda: (
                Batches(client, ttl_seconds=ttl).finish(batch_id, job_id=job_id, state=state)
                and batch_notify.apply_async((batch_id,), queue=ASSEMBLY_QUEUE)
            ),
        )


def _best_effort(job_id: str, step: Callable[[], object]) -> None:
    try:
        step()
    except Exception:  # Redis or the broker, whatever the error: the job's own ending stands, recorded already
        log.exception("job %s ended, but a webhook of it could not be claimed or sent", job_id)


records.finished_listeners.append(on_job_finished)


@signals.task_prerun.connect
def _record_notify(sender: Any = None, args: Any = None, kwargs: Any = None, **_: Any) -> None:
    """A message's webhooks, on a record its producer did not write them to (producers in other languages)."""
    if getattr(sender, "name", None) != RENDER_TASK:
        return
    payload = payload_of(tuple(args or ()), dict(kwargs or {}))
    raw = payload.get("notify") if isinstance(payload, dict) else None
    job_id = job_id_of(payload)
    if not raw or job_id is None:
        return
    try:
        notify = Notify.model_validate(raw)
    except ValidationError:
        return  # the render refuses the message and says why
    key = keys.job_record(job_id)
    pipe = redis_client().pipeline(transaction=True)
    pipe.hsetnx(key, "job_id", job_id)
    pipe.hsetnx(key, "state", "queued")  # a record the worker creates must read as one meanwhile
    if notify.url:
        pipe.hsetnx(key, "notify_url", notify.url)
    if notify.batch_id:
        pipe.hsetnx(key, "notify_batch", notify.batch_id)
    try:
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("job %s: could not record its webhooks: %s", job_id, exc)
