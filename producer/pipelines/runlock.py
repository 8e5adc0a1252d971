"""One run of a pipeline at a time: a short lock in Redis, renewed while the run lives, released only by its holder.

Two runs of one inbox at once would both see a new file and submit it twice.
The lock is taken for `seconds` and renewed every third of that while the run
goes on, so a long scan keeps it and a killed run (out of memory, a hard time
limit) loses it within `seconds`. Renewal and release compare the holder's
token first, in one Lua step: a run that outlived its lock never extends or
deletes the lock the next run took.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import redis

from worker import keys
from worker.support.keepalive import kept_alive

LOCK_SECONDS = 60.0

# KEYS: lock. ARGV: token, milliseconds. 1 when this holder's lock was extended.
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
# KEYS: lock. ARGV: token. 1 when this holder's lock was deleted; another holder's stays.
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class RunLock:
    def __init__(self, client: redis.Redis, *, seconds: float = LOCK_SECONDS) -> None:
        self._redis, self._seconds = client, seconds
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    @contextlib.contextmanager
    def held(self, pipeline: str) -> Iterator[bool]:
        """Yields True while this run holds the pipeline's lock, False (at once) when another run does."""
        key, token, ttl = keys.pipeline_state(pipeline, "lock"), uuid.uuid4().hex, int(self._seconds * 1000)
        if not self._redis.set(key, token, nx=True, px=ttl):
            yield False
            return
        try:
            with kept_alive(
                lambda: self._extend(keys=[key], args=[token, ttl]),
                every=self._seconds / 3,
                name=f"pipeline lock {pipeline}",
            ):
                yield True
        finally:
            with contextlib.suppress(redis.RedisError):
                self._release(keys=[key], args=[token])
