"""The render task and the sweeper: Celery in, job records kept right whatever ends an attempt.

An attempt can end in the task (success, a transient or permanent error, the
soft time limit, an error of no known class) or outside it, where only the
worker's parent process sees it: the hard time limit, or the pool process dying.
`RenderRequest` covers those; every path either finishes the record or leaves a
message that will run the job again, within the same bounds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any

import redis
from billiard.exceptions import WorkerLostError
from celery import Task
from celery.exceptions import Reject, Retry, SoftTimeLimitExceeded, TimeLimitExceeded
from celery.worker import state as worker_state
from celery.worker.request import Request

from worker import keys, metrics
from worker.app import ALL_QUEUES, app
from worker.backoff import retry_delay, wait_delay
from worker.contract import JOB_SWEEP_TASK, RENDER_TASK, RenderJob
from worker.errors import NarrateError, PermanentError, TransientError
from worker.events import cause_of, event
from worker.fish.breaker import BreakerOpen
from worker.fish.limiter import SlotUnavailable
from worker.jobs.lease import LeaseTaken
from worker.jobs.message import job_id_of, job_of, payload_of
from worker.jobs.outcomes import failed_attempt, worker_died
from worker.jobs.render import Progress, render_job
from worker.jobs.sweep import resend, stuck_jobs
from worker.jobs.validate import check_job
from worker.runtime import job_store, redis_client, render_context
from worker.settings import get_settings

log = logging.getLogger("narrate.worker")
SOFT_LIMIT = "the render ran past its soft time limit"


class RenderRequest(Request):
    """The parent process's view of one delivery: it alone sees hard time limits and dead pool processes."""

    _settled = False

    def on_timeout(self, soft: bool, timeout: float) -> None:
        if not soft:
            self._settle(f"the render was killed at its hard time limit ({timeout:g} s)")
        super().on_timeout(soft, timeout)  # acknowledges: the record and any new message now carry the job

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(exc, TimeLimitExceeded):  # billiard reports the hard limit here first, then on_timeout
            self._settle(f"the render was killed at its hard time limit ({exc.args[0] if exc.args else '?'} s)")
        died = isinstance(exc, WorkerLostError) or (
            isinstance(exc, (SystemExit, KeyboardInterrupt)) and not (self._already_cancelled or self._already_revoked)
        )
        if died and not self.acknowledged and not worker_state.should_terminate and self._job_died():
            self.acknowledge()  # failed for good: not handed out again
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def _job_payload(self) -> Any:
        # Not `_payload`: Celery's Request has its own, which its failure, timeout and reject handling read.
        return payload_of(tuple(self.args or ()), dict(self.kwargs or {}))

    def _job_id(self) -> str | None:
        return job_id_of(self._job_payload())

    def _settle(self, reason: str) -> None:
        """After a hard time limit: count the attempt and send the job again, or fail it (once per delivery)."""
        job_id = self._job_id()
        if job_id is None or self._settled or self.acknowledged or worker_state.should_terminate:
            return
        self._settled = True
        try:
            redis_client().delete(keys.render_lease(job_id))  # its holder is being killed
            delay = failed_attempt(job_store(), job_id, error=reason, settings=get_settings())
            (metrics.JOBS.labels(state="failed") if delay is None else metrics.RETRIES.labels(cause="time_limit")).inc()
            if delay is not None:
                app.send_task(RENDER_TASK, kwargs={"job": self._job_payload()}, task_id=self.id, countdown=delay)
        except (redis.RedisError, OSError):
            log.exception("job %s: could not record the hard time limit; the sweeper will find it", job_id)

    def _job_died(self) -> bool:
        job_id = self._job_id()
        if job_id is None:
            return False
        try:
            redis_client().delete(keys.render_lease(job_id))  # its holder is dead
            failed = worker_died(job_store(), job_id, settings=get_settings())
            (metrics.JOBS.labels(state="failed") if failed else metrics.RETRIES.labels(cause="worker_died")).inc()
            return failed
        except redis.RedisError:
            log.exception("job %s: could not count its worker's death", job_id)
            return False


class RenderTask(Task):
    """Keeps the job record in step with what happens to the task."""

    name = RENDER_TASK
    Request = RenderRequest
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # bounded by our own counts (failures, deaths, errors) and NARRATE_MAX_RETRY_SECONDS

    def run(self, *args: Any, errors: int = 0, **kwargs: Any) -> None:
        settings = get_settings()
        try:
            job = job_of(args, kwargs, max_bytes=settings.max_message_bytes)
        except PermanentError as exc:
            return self._refuse(payload_of(args, kwargs), str(exc))
        try:
            self._render(job)
        except (Retry, Reject):
            raise
        except SoftTimeLimitExceeded:  # fired outside the render: in a record update or an error handler
            self._retry_or_fail(job, SOFT_LIMIT, cause="time_limit")
        except Exception as exc:  # Redis gone, a broker hiccup, a bug: retry a bounded number of times
            self._unexpected(job, exc, errors=errors + 1)

    def _render(self, job: RenderJob) -> None:
        settings, store = get_settings(), job_store()
        record = store.get(job.job_id)
        failures = record.failures if record else 0
        progress = Progress()
        try:
            ctx = render_context()
            with ctx.leases.hold(job.job_id) if ctx.leases else contextlib.nullcontext():
                store.mark_running(job.job_id, attempt=failures + 1, worker=f"{socket.gethostname()}:{os.getpid()}")
                check_job(job, settings=settings)
                manifest = render_job(job, ctx=ctx, attempt=failures + 1, progress=progress)
        except LeaseTaken as exc:
            raise self._retry(countdown=min(settings.longest_countdown, wait_delay(exc) + 5.0))
        except (SlotUnavailable, BreakerOpen) as exc:
            # Waiting for capacity or for credit is not a failure: no attempt and no retry time is used up.
            metrics.RETRIES.labels(cause=cause_of(exc)).inc()
            store.mark_waiting(job.job_id, attempt=failures, error=str(exc))
            store.restart_retry_clock(job.job_id)
            raise self._retry(countdown=wait_delay(exc, cap=settings.longest_countdown))
        except SoftTimeLimitExceeded:
            if progress.chunks_stored:
                # A long job that stored chunks this time is moving, not failing: go on where it stopped.
                store.mark_waiting(job.job_id, attempt=failures, error=f"{SOFT_LIMIT} after storing {progress.chunks_stored} more chunks; continuing")
                raise self._retry(countdown=0.5) from None
            return self._retry_or_fail(job, SOFT_LIMIT, cause="time_limit")
        except TransientError as exc:
            return self._retry_or_fail(job, str(exc), cause=cause_of(exc))
        except NarrateError as exc:  # PermanentError, and any other error of ours: fail at once
            store.mark_failed(job.job_id, error=str(exc), attempt=failures + 1)
            metrics.JOBS.labels(state="failed").inc()
            event(log, logging.WARNING, "job %s failed: %s", job.job_id, exc, job_id=job.job_id, attempt=failures + 1, error=exc)
            return
        store.mark_succeeded(
            job.job_id,
            voice_mode=manifest.voice_mode,
            output_url=manifest.output.url,
            manifest_url=manifest.output.url.rsplit(".", 1)[0] + ".json",
            duration_seconds=manifest.output.duration_seconds,
            attempts=manifest.attempts,
        )
        metrics.JOBS.labels(state="succeeded").inc()
        event(log, logging.INFO, "job %s succeeded: %s (%.1fs)", job.job_id, manifest.output.url, manifest.output.duration_seconds,
              job_id=job.job_id, attempt=manifest.attempts, voice_mode=manifest.voice_mode, reference_hash=manifest.voice_reference_hash,
              seconds=round((manifest.finished_at - manifest.started_at).total_seconds(), 3),
              audio_seconds=manifest.output.duration_seconds, text_bytes=manifest.text_bytes_billed)  # fmt: skip

    def _retry_or_fail(self, job: RenderJob, error: str, *, cause: str) -> None:
        delay = failed_attempt(job_store(), job.job_id, error=error, settings=get_settings())
        if delay is None:
            metrics.JOBS.labels(state="failed").inc()
            event(log, logging.WARNING, "job %s failed for good: %s", job.job_id, error, job_id=job.job_id, cause=cause)
            return
        metrics.RETRIES.labels(cause=cause).inc()
        event(log, logging.INFO, "job %s: %s; retrying in %.1fs", job.job_id, error, delay, job_id=job.job_id, cause=cause,
              delay_seconds=round(delay, 3))  # fmt: skip
        raise self._retry(countdown=delay)

    def _unexpected(self, job: RenderJob, exc: Exception, *, errors: int) -> None:
        """Errors the record may not be able to count (Redis itself may be the trouble): counted in the message."""
        settings = get_settings()
        what = _describe_unexpected(exc)
        if errors >= settings.max_attempts:
            metrics.JOBS.labels(state="failed").inc()
            event(log, logging.ERROR, "job %s failed after %d unexpected errors", job.job_id, errors, exc_info=True, job_id=job.job_id,
                  attempt=errors, error=exc)  # fmt: skip
            try:
                job_store().mark_failed(job.job_id, error=f"gave up after {errors} errors: {what}")
            except redis.RedisError:
                log.error("job %s: could not record its failure; the sweeper will find it", job.job_id)
            return
        metrics.RETRIES.labels(cause="other").inc()
        event(log, logging.WARNING, "job %s: %s; retrying (%d of %d)", job.job_id, what, errors, settings.max_attempts,
              exc_info=not isinstance(exc, redis.RedisError), job_id=job.job_id, attempt=errors, cause="other", error=exc)  # fmt: skip
        try:
            job_store().mark_waiting(job.job_id, attempt=errors, error=f"{what}; retrying")
        except redis.RedisError:
            pass
        delay = retry_delay(errors, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
        raise self._retry(kwargs={"job": job.model_dump(mode="json"), "errors": errors}, countdown=delay)

    def _retry(self, **options: Any) -> Retry:
        """A retry Celery cannot publish becomes a deleted message. The job's record still says queued or
        running, so the sweeper sends it again (requeueing would need the same Redis writes that just failed)."""
        try:
            return self.retry(**options)
        except Reject as exc:
            log.error("could not schedule a retry (%s): the sweeper will send the job again", exc.reason)
            raise

    def _refuse(self, payload: Any, reason: str) -> None:
        """A message that breaks the contract fails its job (when it names one); the worker goes on."""
        job_id = job_id_of(payload)
        if job_id is not None:
            job_store().mark_failed(job_id, error=reason)
        log.error("refused a malformed %s message: %s", RENDER_TASK, reason)


def _describe_unexpected(exc: Exception) -> str:
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return f"Redis unreachable ({exc.__class__.__name__})"
    if isinstance(exc, redis.RedisError):
        return f"Redis refused a write ({str(exc)[:120]})"
    return f"internal error: {exc.__class__.__name__}: {str(exc)[:200]}"


class SweepTask(Task):
    """Beat: re-send single jobs whose message is in no queue, with no worker and in no schedule."""

    name = JOB_SWEEP_TASK

    def run(self) -> dict[str, int]:
        store, settings = job_store(), get_settings()
        stuck = stuck_jobs(store, redis_client(), queues=ALL_QUEUES, older_than=settings.sweep_stale_seconds)
        result = resend(store, stuck, send=send_render)
        if stuck:
            log.warning("sweeper: re-sent %d job(s) whose message was lost, failed %d with no kept message", len(result.resent), len(result.failed))
        return {"resent": len(result.resent), "failed": len(result.failed)}


def send_render(job_id: str, job: dict[str, Any]) -> None:
    app.send_task(RENDER_TASK, kwargs={"job": job}, task_id=job_id)


render = app.register_task(RenderTask())
sweep = app.register_task(SweepTask())
