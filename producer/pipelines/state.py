"""An inbox pipeline's state in Redis: files in flight and held back, content seen before, the scan cursor, today's spend."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

import redis

from worker import keys


class InboxState:
    def __init__(self, client: redis.Redis, name: str) -> None:
        self._redis, self._name = client, name

    def _key(self, part: str) -> str:
        return keys.pipeline_state(self._name, part)

    def seen(self, digest: str) -> dict[str, Any] | None:
        raw = self._redis.hget(self._key("seen"), digest)
        return json.loads(raw) if raw else None

    def mark_seen(self, digest: str, report: dict[str, Any]) -> None:
        self._redis.hset(self._key("seen"), digest, json.dumps(report, default=str))

    def inflight(self) -> dict[str, dict[str, Any]]:
        return {k.decode(): json.loads(v) for k, v in self._redis.hgetall(self._key("inflight")).items()}

    def add_inflight(self, key: str, entry: dict[str, Any]) -> None:
        self._redis.hset(self._key("inflight"), key, json.dumps(entry, default=str))

    def drop_inflight(self, key: str) -> None:
        self._redis.hdel(self._key("inflight"), key)

    def _today(self) -> str:
        return keys.pipeline_state(self._name, f"spend:{datetime.now(timezone.utc):%Y-%m-%d}")

    def spent_today(self) -> float:
        return float(self._redis.get(self._today()) or 0)

    def spend(self, usd: float) -> None:
        pipe = self._redis.pipeline()
        pipe.incrbyfloat(self._today(), usd)
        pipe.expire(self._today(), 3 * 86400)
        pipe.execute()

    def hold(self, key: str, reason: str) -> None:
        self._redis.hset(self._key("held"), key, reason)

    def unhold(self, key: str) -> None:
        self._redis.hdel(self._key("held"), key)

    def cursor(self) -> str:
        raw = self._redis.get(self._key("cursor"))
        return raw.decode() if raw else ""

    def set_cursor(self, key: str) -> None:
        self._redis.set(self._key("cursor"), key)
