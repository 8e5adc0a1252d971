"""A job's and a batch's webhook as units of work: counted apart from the job, noted on its record.

A webhook that fails never changes how its job or batch ended: only its own
`notify_status` says what became of the notice.
"""

from __future__ import annotations

import logging
from typing import Any

import redis

from worker import keys
from worker.policy.failures import Attempts
from worker.webhooks.batches import Batches, set_if_exists
from worker.webhooks.outcome import WebhookOutcome

log = logging.getLogger("narrate.webhooks")


class _CountedApart(WebhookOutcome):
    def __init__(self, client: redis.Redis, unit: str, *, max_attempts: int, ttl_seconds: int) -> None:
        super().__init__(max_attempts=max_attempts)
        self.client = client
        self._unit = unit
        self._ttl = ttl_seconds

    def attempts(self) -> Attempts:
        return Attempts(self.client, keys.unit_attempts(self._unit), field="notify", ttl_seconds=self._ttl)

    def succeeded(self) -> None:
        self.attempts().clear()


class JobNotifyUnit(_CountedApart):
    def __init__(self, client: redis.Redis, job_id: str, *, max_attempts: int, ttl_seconds: int) -> None:
        super().__init__(client, f"notify:job:{job_id}", max_attempts=max_attempts, ttl_seconds=ttl_seconds)
        self.job_id = job_id
        self.label = "the job's webhook"
        self.name = f"job {job_id}: its webhook"
        self.fields = {"job_id": job_id}

    def record(self) -> dict[str, str]:
        raw = self.client.hgetall(keys.job_record(self.job_id))
        return {k.decode(): v.decode() for k, v in raw.items() if k != b"message"}

    def note_status(self, status: str) -> None:
        try:
            set_if_exists(self.client, keys.job_record(self.job_id), field="notify_status", value=status)
        except redis.RedisError as exc:
            log.warning("job %s: could not record its webhook's status: %s", self.job_id, exc)


class BatchNotifyUnit(_CountedApart):
    def __init__(
        self, batches: Batches, client: redis.Redis, batch_id: str, *, max_attempts: int, ttl_seconds: int
    ) -> None:
        super().__init__(client, f"notify:batch:{batch_id}", max_attempts=max_attempts, ttl_seconds=ttl_seconds)
        self.batches = batches
        self.batch_id = batch_id
        self.label = "the batch's webhook"
        self.name = f"batch {batch_id}: its webhook"
        self.fields = {"batch_id": batch_id}

    def note_status(self, status: str) -> None:
        try:
            self.batches.note(self.batch_id, notify_status=status)
        except redis.RedisError as exc:
            log.warning("batch %s: could not record its webhook's status: %s", self.batch_id, exc)


def job_payload(job_id: str, record: dict[str, Any]) -> dict[str, Any]:
    """`job.finished`: the fields a book's notice has, for one job."""
    return {
        "event": "job.finished",
        "job_id": job_id,
        "state": record.get("state"),
        "title": record.get("title", ""),
        "output_url": record.get("output_url") or None,
        "manifest_url": record.get("manifest_url") or None,
        "error": record.get("error") or None,
        "duration_seconds": float(record.get("duration_seconds") or 0),
    }


def batch_payload(batch_id: str, batch: dict[str, Any]) -> dict[str, Any]:
    """`batch.finished`: how many of the batch's jobs succeeded and failed; the state is failed if any did."""
    failed = int(batch.get("failed", 0))
    return {
        "event": "batch.finished",
        "batch_id": batch_id,
        "state": "failed" if failed else "succeeded",
        "jobs": int(batch.get("total", 0)),
        "succeeded": int(batch.get("succeeded", 0)),
        "failed": failed,
    }
