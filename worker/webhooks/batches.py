"""One webhook for a batch of jobs: completions counted atomically in Redis, the last one to end sends it.

The producer opens the batch, adds jobs before it sends them, and seals it once
every job is sent; each job that ends is counted once (SADD), so a job finished
twice, or retried after it failed, does not count twice. Exactly one of the last
finish and the seal claims the notice, whichever comes later.
"""

from __future__ import annotations

from typing import Any

import redis

from worker import keys

_FINISH = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('HINCRBY', KEYS[1], ARGV[2], 1)
local remaining = redis.call('HINCRBY', KEYS[1], 'remaining', -1)
if remaining <= 0 and redis.call('HGET', KEYS[1], 'sealed') == '1' then
  return redis.call('HSETNX', KEYS[1], 'claimed', '1')
end
return 0
"""

_SEAL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], 'sealed', '1')
if tonumber(redis.call('HGET', KEYS[1], 'remaining') or '0') <= 0 then
  return redis.call('HSETNX', KEYS[1], 'claimed', '1')
end
return 0
"""

# Sets a field of a hash that still exists: a record that expired meanwhile is not brought back without its TTL.
_SET_IF_EXISTS = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
"""


class Batches:
    def __init__(self, client: redis.Redis, *, ttl_seconds: int) -> None:
        self._redis = client
        self._ttl = ttl_seconds
        self._finish = client.register_script(_FINISH)
        self._seal = client.register_script(_SEAL)

    def open(self, batch_id: str, *, url: str) -> None:
        """The batch's record, empty: its webhook URL (query and all) is kept here and in no plan or message."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(
            keys.notify_batch(batch_id),
            mapping={"batch_id": batch_id, "url": url, "total": 0, "remaining": 0, "succeeded": 0, "failed": 0},
        )
        pipe.expire(keys.notify_batch(batch_id), self._ttl)
        pipe.execute()

    def add(self, batch_id: str, count: int) -> None:
        """`count` more jobs, before they are sent: the count cannot reach zero while some are still to come."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(keys.notify_batch(batch_id), "total", count)
        pipe.hincrby(keys.notify_batch(batch_id), "remaining", count)
        pipe.expire(keys.notify_batch(batch_id), self._ttl)
        pipe.execute()

    def seal(self, batch_id: str) -> bool:
        """Every job is sent; True if they had all ended already (the caller sends the notice)."""
        return bool(self._seal(keys=[keys.notify_batch(batch_id)]))

    def finish(self, batch_id: str, *, job_id: str, state: str) -> bool:
        """One job ended (`succeeded` or `failed`); True for exactly the call that ends a sealed batch."""
        field = "succeeded" if state == "succeeded" else "failed"
        return bool(
            self._finish(
                keys=[keys.notify_batch(batch_id), keys.notify_batch_done(batch_id)], args=[job_id, field, self._ttl]
            )
        )

    def get(self, batch_id: str) -> dict[str, Any] | None:
        raw = self._redis.hgetall(keys.notify_batch(batch_id))
        return {k.decode(): v.decode() for k, v in raw.items()} or None

    def note(self, batch_id: str, *, notify_status: str) -> None:
        """The notice's fate, on a batch that still exists (an expired one is not brought back without a TTL)."""
        set_if_exists(self._redis, keys.notify_batch(batch_id), field="notify_status", value=notify_status)


def set_if_exists(client: redis.Redis, key: str, *, field: str, value: str) -> bool:
    return bool(client.eval(_SET_IF_EXISTS, 1, key, field, value))
