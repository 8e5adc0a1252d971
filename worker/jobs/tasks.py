"""The render task and the sweeper: Celery in, job records kept right whatever ends an attempt.

Every way an attempt can end, in the task or outside it (the hard time limit,
the pool process dying), goes through worker.policy.task with the job's unit
(worker.jobs.outcomes), so all of them share the same bounds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from worker.app import app
from worker.contract import ALL_QUEUES, JOB_SWEEP_TASK, RENDER_TASK, RenderJob
from worker.errors import PermanentError, Progressing
from worker.jobs.chunks import Progress
from worker.jobs.message import job_id_of, job_of, payload_of
from worker.jobs.outcomes import JobUnit
from worker.jobs.render import render_job
from worker.jobs.runtime import job_store
from worker.jobs.sweep import resend, stuck_jobs
from worker.jobs.validate import check_job
from worker.observability import metrics
from worker.observability.events import event
from worker.policy.task import PolicyTask
from worker.runtime import redis_client
from worker.settings import get_settings
from worker.voices.runtime import render_context

log = logging.getLogger("narrate.worker")
SOFT_LIMIT = "the render ran past its soft time limit"


class RenderTask(PolicyTask):
    """Keeps the job record in step with what happens to the task."""

    name = RENDER_TASK

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> JobUnit | None:
        settings = get_settings()
        try:
            job = job_of(args, kwargs, max_bytes=settings.max_message_bytes)
        except PermanentError as exc:
            self._refuse(payload_of(args, kwargs), str(exc))
            return None
        return JobUnit(job_store(), job.job_id, settings=settings, job=job)

    def leases(self) -> Any:
        return render_context().leases

    def perform(self, unit: JobUnit) -> None:
        job, store, settings = unit.job, unit.store, get_settings()
        assert isinstance(job, RenderJob)
        record = store.get(job.job_id)
        failures = record.failures if record else 0
        progress = Progress()
        ctx = render_context()
        try:
            with ctx.leases.hold(job.job_id) if ctx.leases else contextlib.nullcontext():
                store.mark_running(job.job_id, attempt=failures + 1, worker=f"{socket.gethostname()}:{os.getpid()}")
                check_job(job, settings=settings)
                manifest = render_job(job, ctx=ctx, attempt=failures + 1, progress=progress)
        except SoftTimeLimitExceeded:
            if progress.chunks_stored:
                # A long job that stored chunks this time is moving, not failing: go on where it stopped.
                raise Progressing(
                    f"{SOFT_LIMIT} after storing {progress.chunks_stored} more chunks; continuing", delay=0.5
                ) from None
            raise
        store.mark_succeeded(
            job.job_id,
            voice_mode=manifest.voice_mode,
            output_url=manifest.output.url,
            manifest_url=manifest.output.url.rsplit(".", 1)[0] + ".json",
            duration_seconds=manifest.output.duration_seconds,
            attempts=manifest.attempts,
        )
        metrics.JOBS.labels(state="succeeded").inc()
        event(
            log,
            logging.INFO,
            "job %s succeeded: %s (%.1fs)",
            job.job_id,
            manifest.output.url,
            manifest.output.duration_seconds,
            job_id=job.job_id,
            attempt=manifest.attempts,
            voice_mode=manifest.voice_mode,
            reference_hash=manifest.voice_reference_hash,
            seconds=round((manifest.finished_at - manifest.started_at).total_seconds(), 3),
            audio_seconds=manifest.output.duration_seconds,
            text_bytes=manifest.text_bytes_billed,
        )

    def _refuse(self, payload: Any, reason: str) -> None:
        """A message that breaks the contract fails its job (when it names one); the worker goes on."""
        job_id = job_id_of(payload)
        if job_id is not None:
            job_store().mark_failed(job_id, error=reason)
        log.error("refused a malformed %s message: %s", RENDER_TASK, reason)


class SweepTask(Task):
    """Beat: re-send single jobs whose message is in no queue, with no worker and in no schedule."""

    name = JOB_SWEEP_TASK

    def run(self) -> dict[str, int]:
        store, settings = job_store(), get_settings()
        stuck = stuck_jobs(store, redis_client(), queues=ALL_QUEUES, older_than=settings.sweep_stale_seconds)
        result = resend(store, stuck, send=send_render)
        if stuck:
            log.warning(
                "sweeper: re-sent %d job(s) whose message was lost, failed %d with no kept message",
                len(result.resent),
                len(result.failed),
            )
        return {"resent": len(result.resent), "failed": len(result.failed)}


def send_render(job_id: str, job: dict[str, Any]) -> None:
    app.send_task(RENDER_TASK, kwargs={"job": job}, task_id=job_id)


render = app.register_task(RenderTask())
sweep = app.register_task(SweepTask())
