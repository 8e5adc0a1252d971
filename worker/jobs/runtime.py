"""The job records of one worker process, kept on the shared Redis client (worker.runtime)."""

from __future__ import annotations

from worker.jobs.records import JobStore
from worker.runtime import per_process, redis_client
from worker.settings import get_settings


@per_process
def job_store() -> JobStore:
    return JobStore(redis_client(), ttl_seconds=get_settings().record_ttl_seconds)
