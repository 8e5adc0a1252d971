"""A render job as a unit of work: its record counts its failures and deaths and says how it ended.

No Celery here: the render task (in the pool process) and its request (in the
worker's parent, which sees hard time limits and dead pool processes) both go
through worker.policy.task, which decides with this unit.
"""

from __future__ import annotations

import time

from worker.errors import Wait
from worker.jobs.records import JobStore
from worker.observability import metrics
from worker.policy.failures import Unit
from worker.settings import Settings


class JobUnit(Unit):
    def __init__(self, store: JobStore, job_id: str, *, settings: Settings, job: object = None) -> None:
        super().__init__(max_attempts=settings.max_attempts)
        self.store = store
        self.job_id = job_id
        self.job = job  # the validated RenderJob; None where only its id is known (a malformed message)
        self.label = "the job"
        self.name = f"job {job_id}"
        self.fields = {"job_id": job_id}
        self.lease = job_id
        self._max_retry_seconds = settings.max_retry_seconds

    def count_failure(self) -> int:
        return self.store.count_failure(self.job_id)

    def count_death(self) -> int:
        return self.store.count_death(self.job_id)

    def out_of_time(self) -> str | None:
        elapsed = time.time() - self.store.first_attempt_at(self.job_id)
        if elapsed < self._max_retry_seconds:
            return None
        return f"gave up after {elapsed:.0f}s of attempts (NARRATE_MAX_RETRY_SECONDS is {self._max_retry_seconds:g})"

    def waiting(self, note: str, *, exc: BaseException) -> None:
        # Waiting for capacity, credit or another delivery is not failing: no attempt, and no retry time, is used up.
        record = self.store.get(self.job_id)
        self.store.mark_waiting(self.job_id, attempt=record.failures if record else 0, error=note)
        if isinstance(exc, Wait):
            self.store.restart_retry_clock(self.job_id)

    def retrying(self, note: str, *, attempt: int) -> None:
        self.store.mark_waiting(self.job_id, attempt=attempt, error=note)

    def resent(self, note: str) -> None:
        self.store.mark_resent(self.job_id, note=note)

    def fail(self, reason: str) -> None:
        record = self.store.get(self.job_id)
        # The attempt that ended it: a permanent error in the first counts 1, as its record said while it ran.
        self.store.mark_failed(
            self.job_id, error=reason, attempt=max(record.failures, record.attempts) or None if record else None
        )
        metrics.JOBS.labels(state="failed").inc()
