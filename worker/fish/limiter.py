"""A cluster-wide cap on Fish requests in flight: a lease-based semaphore in Redis.

Celery's rate_limit is per worker; Fish limits the account (5 / 15 / 50
requests in flight by tier). Each holder takes a slot with an expiry, so the
slot of a holder that died comes back when its lease runs out; a live holder
extends its lease while its request runs, however long that takes.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from collections.abc import Iterator

import redis

from worker import keys
from worker.errors import Wait
from worker.support.keepalive import kept_alive

# KEYS: slots zset. ARGV: lease seconds, holder id, limit. Redis' own clock: workers' clocks may disagree.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
  return 1
end
return 0
"""


# KEYS: slots zset. ARGV: lease seconds, holder id. XX: a slot already released is not taken back.
_EXTEND = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
"""


class SlotUnavailable(Wait):
    """Every Fish slot is taken: try again shortly, without counting it as a failure."""

    cause = "slot_wait"


class FishLimiter:
    def __init__(self, client: redis.Redis, *, limit: int, lease_seconds: float, wait_seconds: float = 2.0) -> None:
        self._redis = client
        self._acquire = client.register_script(_ACQUIRE)
        self._extend = client.register_script(_EXTEND)
        self.limit = limit
        self.lease_seconds = lease_seconds
        self.wait_seconds = wait_seconds

    def try_acquire(self) -> str | None:
        holder = uuid.uuid4().hex
        taken = self._acquire(keys=[keys.fish_slots()], args=[self.lease_seconds, holder, self.limit])
        return holder if taken else None

    def extend(self, holder: str) -> None:
        self._extend(keys=[keys.fish_slots()], args=[self.lease_seconds, holder])

    def in_use(self) -> int:
        """Slots held now, cluster-wide (leases past their expiry do not count)."""
        seconds, micros = self._redis.time()
        return int(self._redis.zcount(keys.fish_slots(), f"({seconds + micros / 1e6}", "+inf"))

    def release(self, holder: str) -> None:
        self._redis.zrem(keys.fish_slots(), holder)

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Hold one slot for the body; wait briefly for one, then give up with SlotUnavailable."""
        deadline = time.monotonic() + self.wait_seconds
        holder = self.try_acquire()
        while holder is None:
            if time.monotonic() >= deadline:
                raise SlotUnavailable(f"all {self.limit} Fish request slots are in use (NARRATE_FISH_CONCURRENCY)")
            time.sleep(random.uniform(0.02, 0.1))  # jitter: waiters do not wake in lockstep
            holder = self.try_acquire()
        try:
            with kept_alive(lambda: self.extend(holder), every=self.lease_seconds / 3, name="Fish slot lease"):
                yield
        finally:
            self.release(holder)
