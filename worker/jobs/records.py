"""Job records in Redis: one hash per job and one sorted set per state.

Producers create the record (queued) before the message is sent, so a worker
always finds it; workers move it through running to succeeded or failed.
A record keeps its job's message (compressed) until the job succeeds, for
`narrate retry` and the sweeper. A finished record expires after the store's
TTL, and the finished states' sets lose their members with it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import redis
from pydantic import BaseModel

from worker import keys
from worker.infra.redisconn import connect as connect_redis
from worker.jobs import kept_message

JobState = Literal["queued", "running", "succeeded", "failed"]
FINISHED: tuple[JobState, ...] = ("succeeded", "failed")


class JobRecord(BaseModel):
    job_id: str
    state: JobState
    title: str = ""
    text_bytes: int = 0
    voice_mode: str = ""
    reference_hash: str = ""
    output_url: str = ""
    manifest_url: str = ""
    duration_seconds: float = 0.0
    error: str = ""
    attempts: int = 0
    failures: int = 0  # transient failures so far; waiting for a slot or for credit does not count
    deaths: int = 0  # deliveries whose worker process died (killed, out of memory, a crash)
    worker: str = ""  # host:pid of the process rendering it, while running
    submitted_at: str = ""
    started_at: str = ""
    finished_at: str = ""
    notify_url: str = ""  # the job's webhook, query and all (often a token): shown only without its query
    notify_batch: str = ""  # the batch whose webhook counts this job (worker.webhooks.batches)
    notify_status: str = ""  # delivered, refused by policy, failed after N attempts (...)

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


# Called as listener(job_id, state, notify_url, notify_batch) after a job with a webhook ends (worker.webhooks.jobs).
FinishedListener = Callable[[str, JobState, str, str], None]
finished_listeners: list[FinishedListener] = []


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


class JobStore:
    def __init__(self, client: redis.Redis, *, ttl_seconds: int = 30 * 86400) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    @classmethod
    def from_url(cls, url: str, *, master_name: str = "", ttl_seconds: int = 30 * 86400) -> JobStore:
        return cls(connect_redis(url, master_name=master_name), ttl_seconds=ttl_seconds)

    def create(self, records: list[JobRecord], *, messages: dict[str, str] | None = None) -> None:
        """Write many queued records in one round trip; `messages` (JSON by job id) make `narrate retry` possible."""
        pipe = self._redis.pipeline(transaction=False)
        now = time.time()
        by_state: dict[str, dict[str, float]] = {}
        for record in records:
            mapping: dict[str, str | bytes] = {**_to_hash(record)}
            kept = kept_message.pack(messages[record.job_id]) if messages and record.job_id in messages else None
            if kept is not None:
                mapping["message"] = kept
            pipe.hset(keys.job_record(record.job_id), mapping=mapping)
            by_state.setdefault(record.state, {})[record.job_id] = now
        for state, members in by_state.items():
            pipe.zadd(keys.jobs_in_state(state), members)  # one command for the batch, not one per job
        pipe.execute()

    def message(self, job_id: str) -> str | None:
        """The job's message as JSON, if its record keeps it (until the job succeeds)."""
        raw = self._redis.hget(keys.job_record(job_id), "message")
        return kept_message.unpack(raw) if raw else None

    def count_failure(self, job_id: str) -> int:
        """One more transient failure; returns how many there have been."""
        return int(self._redis.hincrby(keys.job_record(job_id), "failures", 1))

    def count_death(self, job_id: str) -> int:
        """One more delivery whose worker process died; returns how many there have been."""
        return int(self._redis.hincrby(keys.job_record(job_id), "deaths", 1))

    def first_attempt_at(self, job_id: str) -> float:
        """When the job first started (set once): bounds the total time spent retrying."""
        key = keys.job_record(job_id)
        self._redis.hsetnx(key, "first_attempt_at", time.time())
        return float(self._redis.hget(key, "first_attempt_at") or time.time())

    def restart_retry_clock(self, job_id: str) -> None:
        self._redis.hdel(keys.job_record(job_id), "first_attempt_at")

    def requeue(self, job_id: str) -> None:
        """Back to queued with a clean slate, for `narrate retry`."""
        key = keys.job_record(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, mapping={"error": "", "failures": 0, "deaths": 0, "finished_at": ""})
        pipe.hdel(key, "first_attempt_at", "notify_claim", "notify_status")  # ends again: notifies again
        pipe.persist(key)
        pipe.execute()
        self._move(job_id, "queued", {})

    def in_state(self, state: JobState, *, before: float | None = None) -> list[str]:
        """Ids of jobs in `state`, optionally only those that entered it before `before` (epoch seconds)."""
        found = self._redis.zrangebyscore(keys.jobs_in_state(state), "-inf", before if before is not None else "+inf")
        return [job_id.decode() for job_id in found]

    def purge(self, job_ids: list[str]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.delete(keys.job_record(job_id))
            for state in keys.JOB_STATES:
                pipe.zrem(keys.jobs_in_state(state), job_id)
        pipe.execute()

    def get(self, job_id: str) -> JobRecord | None:
        return self.get_many([job_id])[0]

    def get_many(self, job_ids: list[str]) -> list[JobRecord | None]:
        pipe = self._redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(keys.job_record(job_id))
        return [_from_hash(raw) if raw else None for raw in pipe.execute()]

    def mark_running(self, job_id: str, *, attempt: int, worker: str = "") -> None:
        self._move(job_id, "running", {"attempts": attempt, "started_at": now_iso(), "worker": worker})

    def mark_waiting(self, job_id: str, *, attempt: int, error: str) -> None:
        """Back to queued after a transient failure: the error is kept for `narrate status`."""
        self._move(job_id, "queued", {"attempts": attempt, "error": error, "worker": ""})

    def mark_resent(self, job_id: str, *, note: str) -> None:
        """Queued again because its message was lost; what it had counted so far stays."""
        self._move(job_id, "queued", {"error": note, "worker": ""})

    def mark_succeeded(self, job_id: str, **fields: str | int | float) -> None:
        self._move(job_id, "succeeded", {**fields, "error": "", "worker": "", "finished_at": now_iso()}, finished=True)

    def mark_failed(self, job_id: str, *, error: str, attempt: int | None = None) -> None:
        fields: dict[str, str | int | float] = {"error": error, "worker": "", "finished_at": now_iso()}
        if attempt is not None:
            fields["attempts"] = attempt
        self._move(job_id, "failed", fields, finished=True)

    def _move(
        self, job_id: str, state: JobState, fields: dict[str, str | int | float], *, finished: bool = False
    ) -> None:
        key = keys.job_record(job_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(key, mapping={**{k: str(v) for k, v in fields.items()}, "state": state, "job_id": job_id})
        for other in keys.JOB_STATES:
            if other != state:
                pipe.zrem(keys.jobs_in_state(other), job_id)
        now = time.time()
        pipe.zadd(keys.jobs_in_state(state), {job_id: now})
        if finished:
            pipe.expire(key, self._ttl)
            if state == "succeeded":
                pipe.hdel(key, "message")  # nothing will send it again
            # Members go with their records: those that finished over a TTL ago have expired, and a set
            # that nothing entered for a TTL is gone with all of them.
            for done in FINISHED:
                pipe.zremrangebyscore(keys.jobs_in_state(done), "-inf", now - self._ttl)
            pipe.expire(keys.jobs_in_state(state), self._ttl)
            pipe.hmget(key, "notify_url", "notify_batch")
        answers = pipe.execute()
        if finished and any(answers[-1]):
            url, batch = (value.decode() if value else "" for value in answers[-1])
            for listener in finished_listeners:
                listener(job_id, state, url, batch)


def _to_hash(record: JobRecord) -> dict[str, str]:
    """Only the fields that differ from their defaults (reading fills the rest in): a smaller write and record."""
    fields = record.model_dump(exclude_defaults=True)
    fields.update(job_id=record.job_id, state=record.state)
    return {name: str(value) for name, value in fields.items()}


def _from_hash(raw: dict[bytes, bytes]) -> JobRecord:
    decoded = {k.decode(): v.decode() for k, v in raw.items() if k != b"message"}
    return JobRecord.model_validate(decoded)
