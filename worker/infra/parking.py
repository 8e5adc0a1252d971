"""Work that meets the open credit breaker parks in Redis; closing the breaker sends it again.

While Fish calls are paused after a 402, a retry every few seconds per waiting
message would be millions of task runs over a weekend, and none of them could
do anything. A parked message is one list entry instead, until the breaker
closes (`narrate resume`, or the credit check finding credit again).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import redis

from worker import keys

# KEYS: parked list. Takes every entry at once: two releases never send the same message twice.
_TAKE_ALL = """
local entries = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return entries
"""


class Parking:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._take_all = client.register_script(_TAKE_ALL)

    def park(self, *, task: str, task_id: str, args: list[Any], kwargs: dict[str, Any], queue: str | None) -> None:
        entry = {"task": task, "id": task_id, "args": args, "kwargs": kwargs, "queue": queue}
        self._redis.rpush(keys.parked_tasks(), json.dumps(entry))

    def entries(self) -> list[dict[str, Any]]:
        """What is parked now (the sweeper and the reconciler count it as in flight)."""
        return [json.loads(raw) for raw in self._redis.lrange(keys.parked_tasks(), 0, -1)]

    def count(self) -> int:
        return int(self._redis.llen(keys.parked_tasks()))

    def release(self, send: Callable[[dict[str, Any]], None]) -> int:
        """Send every parked message again (`send(entry)`); what could not be sent is parked again."""
        entries = [json.loads(raw) for raw in self._take_all(keys=[keys.parked_tasks()])]
        for sent, entry in enumerate(entries):
            try:
                send(entry)
            except Exception:
                self._redis.rpush(keys.parked_tasks(), *(json.dumps(e) for e in entries[sent:]))
                raise
        return len(entries)


def sender(app: Any) -> Callable[[dict[str, Any]], None]:
    """Sends a parked entry through `app` (the worker's Celery app, or a producer's) exactly as it was."""

    def send(entry: dict[str, Any]) -> None:
        app.send_task(
            entry["task"], args=entry["args"], kwargs=entry["kwargs"], task_id=entry["id"], queue=entry["queue"]
        )

    return send
