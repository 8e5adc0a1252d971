"""Renders Fish has already returned, held in Redis while S3 cannot take them.

When storing a finished render fails (S3 down), its audio waits here so the
retry — on whichever worker — uses it instead of paying Fish again. What Fish's
speech-to-text heard in a take waits here the same way when its record cannot be stored.
"""

from __future__ import annotations

import json
from typing import Any

import redis

from worker import keys
from worker.contract import RequestRecord

HOLD_SECONDS = 6 * 3600


class HeldRenders:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def put(self, key: str, *, data: bytes, record: RequestRecord) -> None:
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(keys.held_render(key), mapping={"audio": data, "record": record.model_dump_json()})
        pipe.expire(keys.held_render(key), HOLD_SECONDS)
        pipe.execute()

    def get(self, key: str) -> tuple[bytes, RequestRecord] | None:
        raw = self._redis.hgetall(keys.held_render(key))
        if not raw:
            return None
        return raw[b"audio"], RequestRecord.model_validate_json(raw[b"record"])

    def drop(self, key: str) -> None:
        self._redis.delete(keys.held_render(key))

    def put_heard(self, take_url: str, heard: dict[str, Any]) -> None:
        self._redis.set(keys.held_heard(take_url), json.dumps(heard), ex=HOLD_SECONDS)

    def get_heard(self, take_url: str) -> dict[str, Any] | None:
        raw = self._redis.get(keys.held_heard(take_url))
        return json.loads(raw) if raw else None

    def drop_heard(self, take_url: str) -> None:
        self._redis.delete(keys.held_heard(take_url))
