"""Job records in Redis: one hash per job and one sorted set per state.

Producers create the record (queued) before the message is sent, so a worker
always finds it; workers move it through running to succeeded or failed.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Literal

import redis
from pydantic import BaseModel

from worker import keys
from worker.redisconn import connect as connect_redis

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

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


class JobStore:
    def __init__(self, client: redis.Redis, *, ttl_seconds: int = 30 * 86400) -> None:
        self._redis = client
        self._ttl = ttl_seconds

    @classmethod
    def from_url(cls, url: str, *, ttl_seconds: int = 30 * 86400) -> JobStore:
        return cls(connect_redis(url), ttl_seconds=ttl_seconds)

    def create(self, records: list[JobRecord], *, messages: dict[str, str] | None = None) -> None:
        """Write many queued records in one round trip; `messages` (JSON by job id) make `narrate retry` possible."""
        pipe = self._redis.pipeline(transaction=False)
        for record in records:
            mapping = _to_hash(record)
            if messages and record.job_id in messages:
                mapping["message"] = messages[record.job_id]
            pipe.hset(keys.job_record(record.job_id), mapping=mapping)
            pipe.zadd(keys.jobs_in_state(record.state), {record.job_id: time.time()})
        pipe.execute()

    def message(self, job_id: str) -> str | None:
        raw = self._redis.hget(keys.job_record(job_id), "message")
        return raw.decode() if raw else None

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
        pipe.hdel(key, "first_attempt_at")
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
        pipe.zadd(keys.jobs_in_state(state), {job_id: time.time()})
        if finished:
            pipe.expire(key, self._ttl)
        pipe.execute()


def _to_hash(record: JobRecord) -> dict[str, str]:
    return {name: str(value) for name, value in record.model_dump().items()}


def _from_hash(raw: dict[bytes, bytes]) -> JobRecord:
    decoded = {k.decode(): v.decode() for k, v in raw.items() if k != b"message"}
    return JobRecord.model_validate(decoded)
