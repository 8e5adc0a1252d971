"""Renders Fish has already returned, held in Redis while S3 cannot take them.

When storing a finished render fails (S3 down), its audio waits here so the
retry — on whichever worker — uses it instead of paying Fish again.
"""

from __future__ import annotations

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
