"""Thin Celery tasks: parse the message, call render, keep the job record right."""

from __future__ import annotations

import logging
import random
import time
from functools import lru_cache
from typing import Any

import redis
from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from celery.signals import worker_process_init
from pydantic import ValidationError

from worker.breaker import BreakerOpen, CreditBreaker
from worker.celery_app import VOICES_QUEUE, app
from worker.errors import NarrateError, PermanentError, TransientError
from worker.fish import FishClient, FishVoices
from worker.jobs import CREDIT_CHECK_TASK, PROMOTE_TASK, RENDER_TASK, SCHEMA_VERSION, RenderJob
from worker.promotion import PromotionContext, advance
from worker.held import HeldRenders
from worker.limiter import FishLimiter, SlotUnavailable
from worker.records import JobRecord, JobStore
from worker.validate import check_job, check_message_size
from worker.render import render_job
from worker.speaker import RenderContext
from worker.settings import get_settings
from worker.storage import Storage
from worker.voices import Registry

log = logging.getLogger("narrate.worker")


@lru_cache(maxsize=1)
def job_store() -> JobStore:
    settings = get_settings()
    return JobStore.from_url(settings.broker_url, ttl_seconds=settings.job_ttl_days * 86400)


@lru_cache(maxsize=1)
def render_context() -> RenderContext:
    """One Fish client and one S3 client per worker process, made after the fork."""
    settings = get_settings()
    client = redis.Redis.from_url(settings.broker_url)
    limiter = FishLimiter(client, limit=settings.fish_concurrency, lease_seconds=settings.fish_timeout_seconds + 30)
    return RenderContext(
        settings=settings,
        storage=Storage.from_settings(settings),
        fish=FishClient(settings, limiter=limiter, breaker=CreditBreaker(client)),
        registry=Registry(client),
        held=HeldRenders(client),
        start_promotion=lambda reference_hash: promote.apply_async((reference_hash,), queue=VOICES_QUEUE),
    )


@lru_cache(maxsize=1)
def promotion_context() -> PromotionContext:
    ctx = render_context()
    assert ctx.registry is not None
    return PromotionContext(settings=ctx.settings, registry=ctx.registry, voices=FishVoices(ctx.fish), storage=ctx.storage)


@worker_process_init.connect
def _fresh_clients_after_fork(**_: Any) -> None:
    # Connections inherited from the parent must not be shared between children.
    job_store.cache_clear()
    render_context.cache_clear()
    promotion_context.cache_clear()


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential back-off with full jitter: spreads a burst of retries out."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def wait_delay(reason: Exception) -> float:
    """Short, jittered waits for a Fish slot; longer ones while the credit breaker is open."""
    return random.uniform(5.0, 15.0) if isinstance(reason, BreakerOpen) else random.uniform(0.2, 2.0)


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


class PromoteTask(Task):
    """One step of a promotion; schedules the next with a countdown instead of sleeping."""

    name = PROMOTE_TASK
    acks_late = True
    reject_on_worker_lost = True

    def run(self, reference_hash: str) -> None:
        settings = get_settings()
        ctx = promotion_context()
        try:
            next_step = advance(reference_hash, ctx=ctx)
        except TransientError as exc:
            attempt = self.request.retries + 1
            if attempt >= settings.max_attempts:
                ctx.registry.mark_failed(reference_hash, reason=f"Fish unavailable: {exc}", retry_in=settings.promote_retry_seconds)
                return
            delay = retry_delay(attempt, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
            raise self.retry(countdown=delay, max_retries=settings.max_attempts)
        if next_step is not None:
            self.apply_async((reference_hash,), countdown=next_step, queue=VOICES_QUEUE)


promote = app.register_task(PromoteTask())


class CreditCheckTask(Task):
    """While the 402 breaker is open, ask Fish for the account's credit; close the breaker once there is some."""

    name = CREDIT_CHECK_TASK

    def run(self) -> str:
        ctx = render_context()
        breaker = CreditBreaker(redis.Redis.from_url(ctx.settings.broker_url))
        if breaker.status() is None:
            return "closed"
        try:
            credit = ctx.fish.credit()
        except NarrateError as exc:
            return f"still open: credit check failed ({exc})"
        if credit > 0:
            breaker.close()
            log.info("Fish credit is back (%.2f): resuming Fish calls", credit)
            return "closed"
        return "still open: no credit"


credit_check = app.register_task(CreditCheckTask())


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
