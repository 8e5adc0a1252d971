"""What a job's record says after an attempt that did not finish it, and whether it goes again.

No Celery here: the render task (in the pool process) and its request (in the
worker's parent, which sees hard time limits and dead pool processes) both decide
through these functions, so every way an attempt can end has the same bounds.
"""

from __future__ import annotations

import time

from worker.backoff import retry_delay
from worker.jobs.records import JobStore
from worker.settings import Settings


def failed_attempt(store: JobStore, job_id: str, *, error: str, settings: Settings) -> float | None:
    """Count one transient failure: the delay before the next attempt, or None once the job has failed for good."""
    failures = store.count_failure(job_id)
    elapsed = time.time() - store.first_attempt_at(job_id)
    if failures >= settings.max_attempts or elapsed >= settings.max_retry_seconds:
        store.mark_failed(job_id, error=f"gave up after {failures} attempts in {elapsed:.0f}s: {error}", attempt=failures)
        return None
    store.mark_waiting(job_id, attempt=failures, error=f"attempt {failures} failed, retrying: {error}")
    return retry_delay(failures, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)


def worker_died(store: JobStore, job_id: str, *, settings: Settings) -> bool:
    """Count one delivery whose pool process died; True once that has happened too often and the job is failed.

    Counted in the worker's parent process, which sees each death exactly once.
    """
    deaths = store.count_death(job_id)
    if deaths < settings.max_attempts:
        store.mark_resent(job_id, note=f"its worker process died ({deaths} of {settings.max_attempts} allowed); retrying")
        return False
    store.mark_failed(
        job_id,
        error=f"its worker process died {deaths} times while rendering it (out of memory or a crash?);"
        " not retried again: check the input and the worker's memory, then `narrate retry`",
    )
    return True
