"""The render task: parse the message, call render, keep the job record right."""

from __future__ import annotations

import logging
import random
import time
from typing import Any

from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from pydantic import ValidationError

from worker.app import app
from worker.backoff import retry_delay, wait_delay
from worker.contract import RENDER_TASK, SCHEMA_VERSION, RenderJob
from worker.errors import NarrateError, PermanentError, TransientError
from worker.fish.breaker import BreakerOpen
from worker.fish.limiter import SlotUnavailable
from worker.jobs.records import JobRecord
from worker.jobs.render import render_job
from worker.jobs.validate import check_job, check_message_size
from worker.runtime import job_store, render_context
from worker.settings import get_settings

log = logging.getLogger("narrate.worker")


_NO_RECORD = JobRecord(job_id="0" * 32, state="queued")


class RenderTask(Task):
    """Keeps the job record in step with what happens to the task."""

    name = RENDER_TASK
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # bounded by our own count of failures and NARRATE_MAX_RETRY_SECONDS, not Celery's

    def run(self, *args: Any, **kwargs: Any) -> None:
        try:
            self._run(*args, **kwargs)
        except (Retry, SoftTimeLimitExceeded):
            raise
        except Exception as exc:  # Redis gone mid-update, a broker hiccup, a bug: retry later, never drop the job
            log.exception("render task hit an unexpected error; it will be retried")
            raise self.retry(exc=exc, countdown=random.uniform(5.0, 30.0))

    def _run(self, *args: Any, **kwargs: Any) -> None:
        payload = _payload(args, kwargs)
        settings = get_settings()
        try:
            check_message_size(payload, limit=settings.max_message_bytes)
            job = RenderJob.model_validate(payload)
        except ValidationError as exc:
            self._refuse(payload, _describe(payload, exc))
            return
        except PermanentError as exc:
            self._refuse(payload, str(exc))
            return
        store = job_store()
        failures = (store.get(job.job_id) or _NO_RECORD).failures
        attempt = failures + 1
        store.mark_running(job.job_id, attempt=attempt)
        first_attempt = store.first_attempt_at(job.job_id)
        try:
            check_job(job, settings=settings)
            manifest = render_job(job, ctx=render_context(), attempt=attempt)
        except (SlotUnavailable, BreakerOpen) as exc:
            # Waiting for capacity or for credit is not a failure: no attempt and no retry time is used up.
            store.mark_waiting(job.job_id, attempt=failures, error=str(exc))
            store.restart_retry_clock(job.job_id)
            raise self.retry(countdown=wait_delay(exc))
        except (TransientError, SoftTimeLimitExceeded) as exc:
            error = str(exc) or "the render ran past its soft time limit"
            failures = store.count_failure(job.job_id)
            elapsed = time.time() - first_attempt
            if failures >= settings.max_attempts or elapsed >= settings.max_retry_seconds:
                store.mark_failed(job.job_id, error=f"gave up after {failures} attempts in {elapsed:.0f}s: {error}", attempt=failures)
                log.warning("job %s failed after %d attempts: %s", job.job_id, failures, error)
                return
            delay = retry_delay(failures, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
            store.mark_waiting(job.job_id, attempt=failures, error=f"attempt {failures} failed, retrying: {error}")
            log.info("job %s attempt %d: %s; retrying in %.1fs", job.job_id, failures, error, delay)
            raise self.retry(countdown=delay)
        except NarrateError as exc:  # PermanentError, and any other error of ours: fail at once
            store.mark_failed(job.job_id, error=str(exc), attempt=attempt)
            log.warning("job %s failed: %s", job.job_id, exc)
            return
        store.mark_succeeded(
            job.job_id,
            voice_mode=manifest.voice_mode,
            output_url=manifest.output.url,
            manifest_url=manifest.output.url.rsplit(".", 1)[0] + ".json",
            duration_seconds=manifest.output.duration_seconds,
            attempts=manifest.attempts,
        )
        log.info("job %s succeeded: %s (%.1fs)", job.job_id, manifest.output.url, manifest.output.duration_seconds)

    def _refuse(self, payload: Any, reason: str) -> None:
        """A message that breaks the contract fails its job (when it names one); the worker goes on."""
        job_id = payload.get("job_id") if isinstance(payload, dict) else None
        if isinstance(job_id, str) and _looks_like_id(job_id):
            job_store().mark_failed(job_id, error=reason)
        log.error("refused a malformed %s message: %s", RENDER_TASK, reason)


render = app.register_task(RenderTask())


def _payload(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if "job" in kwargs and not args:
        return kwargs["job"]
    if len(args) == 1 and not kwargs:
        return args[0]
    return {"__arguments__": {"args": list(args), "kwargs": sorted(kwargs)}}


def _looks_like_id(job_id: str) -> bool:
    return len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id)


def _describe(payload: Any, exc: ValidationError) -> str:
    if not isinstance(payload, dict) or "__arguments__" in payload:
        return f"invalid job message: send the job as kwargs={{'job': {{...}}}} (schema version {SCHEMA_VERSION})"
    version = payload.get("schema_version")
    if isinstance(version, str) and version.strip() == str(SCHEMA_VERSION):
        return f"invalid job message: schema_version must be the number {SCHEMA_VERSION}, not the string {version!r}"
    if version != SCHEMA_VERSION:
        return (
            f"invalid job message: schema_version {version!r} is not supported by this worker"
            f" (it speaks version {SCHEMA_VERSION}); see `narrate schema`"
        )
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'job'}: {error['msg']}" for error in exc.errors()[:5]
    )
    return f"invalid job message: {problems}"
