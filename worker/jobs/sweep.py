"""Rescue single jobs whose message is gone: re-send them, or fail them with the reason.

A job's record says `queued` or `running`, yet no queue, no worker's unacknowledged
set and no schedule holds its message (a Redis failover that lost writes, a
message deleted by hand, a bug). Run periodically by beat, and by
`narrate retry` for jobs a person names. Re-sending is safe: a render is
idempotent and one delivery at a time holds its lease.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import redis

from worker.infra.broker import in_flight
from worker.jobs.records import JobStore

LOST_NOTE = "re-sent: its message was lost (no queue, worker or schedule held it)"
LOST_FOR_GOOD = "its message was lost and no copy was kept (it was not sent by narrate): submit it again"


@dataclass
class SweepResult:
    resent: list[str]
    failed: list[str]


def stuck_jobs(
    store: JobStore, client: redis.Redis, *, queues: Iterable[str], older_than: float, job_ids: list[str] | None = None
) -> list[str]:
    """Jobs queued or running for over `older_than` seconds (or those of `job_ids` that are) with no message
    anywhere."""
    queues = tuple(queues)
    if job_ids is None:
        cutoff = time.time() - older_than
        job_ids = store.in_state("queued", before=cutoff) + store.in_state("running", before=cutoff)
    else:
        job_ids = [r.job_id for r in store.get_many(job_ids) if r is not None and not r.finished]
    if not job_ids:
        return []
    # One read of the broker for all candidates: a read each would cost candidates × messages held.
    held = in_flight(client, queues).job_ids
    missing = [j for j in job_ids if j not in held]
    if missing:
        # Look again, once: a message taken from a queue is in a worker's unacknowledged set a moment later.
        held = in_flight(client, queues).job_ids
        missing = [j for j in missing if j not in held]
    return missing


def resend(store: JobStore, job_ids: list[str], *, send: Callable[[str, dict], None]) -> SweepResult:
    """Send each job's kept message again (`send(job_id, job)`); a job with no kept message fails, saying so."""
    result = SweepResult(resent=[], failed=[])
    for job_id in job_ids:
        message = store.message(job_id)
        if message is None:
            store.mark_failed(job_id, error=LOST_FOR_GOOD)
            result.failed.append(job_id)
            continue
        store.mark_resent(job_id, note=LOST_NOTE)
        send(job_id, json.loads(message))
        result.resent.append(job_id)
    return result
