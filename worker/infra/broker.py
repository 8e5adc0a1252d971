"""What the broker holds right now: every job and book with a message waiting, delivered or scheduled.

Reads kombu's Redis layout directly (a list per queue and priority, and the
`unacked` hash that holds every message a worker has taken but not acknowledged,
including tasks it keeps until their countdown). The sweeper and the book
reconciler use it to tell work that is waiting its turn from work that is lost.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import redis

from worker.contract import (
    BOOK_ASSEMBLE_TASK,
    BOOK_CHAPTER_TASK,
    BOOK_CHUNK_TASK,
    RENDER_TASK,
)
from worker.infra.parking import Parking

UNACKED = "unacked"  # kombu.transport.redis.Channel.unacked_key
UNACKED_INDEX = "unacked_index"  # kombu.transport.redis.Channel.unacked_index_key: delivery tag -> when delivered
PRIORITY_SEPARATOR = "\x06\x16"  # kombu.transport.redis.Channel.sep
PRIORITY_STEPS = (0, 3, 6, 9)
_BATCH = 1000


@dataclass
class InFlight:
    job_ids: set[str] = field(default_factory=set)
    book_ids: set[str] = field(default_factory=set)
    messages: int = 0

    def add(self, raw: bytes | str) -> None:
        self.add_call(*_task_call(raw))

    def add_call(self, task: str, args: list, kwargs: dict) -> None:
        self.messages += 1
        if task == RENDER_TASK:
            job = (
                kwargs.get("job")
                if isinstance(kwargs.get("job"), dict)
                else (args[0] if args and isinstance(args[0], dict) else {})
            )
            if isinstance(job.get("job_id"), str):
                self.job_ids.add(job["job_id"])
        elif task == BOOK_CHUNK_TASK and args and isinstance(args[0], dict):
            self.book_ids.add(str(args[0].get("book_id", "")))
        elif task in (BOOK_CHAPTER_TASK, BOOK_ASSEMBLE_TASK) and args:
            self.book_ids.add(str(args[0]))


def in_flight(client: redis.Redis, queues: Iterable[str], *, delivered_after: float | None = None) -> InFlight:
    """Every render job and book with a message in `queues` or delivered to a worker and not yet acknowledged.

    `delivered_after` (epoch seconds) leaves out deliveries made before it: a worker killed outright never
    acknowledges, and its deliveries stay in the unacknowledged set until the visibility timeout.
    """
    found = InFlight()
    for raw in _queued(client, queues):
        found.add(raw)
    for entry in _delivered(client, delivered_after):
        try:
            message = json.loads(entry)[0]
        except (ValueError, IndexError, TypeError):
            continue  # acknowledged meanwhile (None), or unreadable
        found.add(json.dumps(message))
    for entry in Parking(client).entries():  # parked behind the open credit breaker: waiting, not lost
        found.add_call(entry.get("task", ""), list(entry.get("args") or []), dict(entry.get("kwargs") or {}))
    return found


def _delivered(client: redis.Redis, after: float | None) -> Iterator[bytes | None]:
    if after is None:
        for _, entry in client.hscan_iter(UNACKED, count=_BATCH):
            yield entry
        return
    tags = client.zrangebyscore(UNACKED_INDEX, f"({after}", "+inf")
    for start in range(0, len(tags), _BATCH):
        yield from client.hmget(UNACKED, tags[start : start + _BATCH])


def _queued(client: redis.Redis, queues: Iterable[str]) -> Iterator[bytes]:
    for queue in queues:
        for step in PRIORITY_STEPS:
            name = queue if step == 0 else f"{queue}{PRIORITY_SEPARATOR}{step}"
            start = 0
            while batch := client.lrange(name, start, start + _BATCH - 1):
                yield from batch
                start += len(batch)


def _task_call(raw: bytes | str) -> tuple[str, list, dict]:
    """(task name, args, kwargs) of one kombu message; empty for anything unreadable."""
    try:
        message = json.loads(raw)
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args, kwargs, _ = json.loads(body)
        return str(message.get("headers", {}).get("task", "")), list(args), dict(kwargs)
    except (ValueError, KeyError, TypeError, AttributeError):
        return "", [], {}
