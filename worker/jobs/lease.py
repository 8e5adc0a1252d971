"""One delivery renders a job at a time: a short lease in Redis, kept alive while the render runs.

After a connection loss the broker hands every unacknowledged message out again
while the first copies keep running; the second copy of a job finds the lease
taken and waits instead of paying Fish for the same audio. A worker that dies
stops extending its leases, so they run out within `seconds`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import redis

from worker import keys
from worker.errors import TransientError
from worker.keepalive import kept_alive

LEASE_SECONDS = 10.0  # how long a dead holder can keep a copy waiting; renewed every third of it

# KEYS: lease. ARGV: token, milliseconds. Only the holder extends or releases.
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


class LeaseTaken(TransientError):
    """Another delivery of the same job is rendering it: wait, without counting a failure."""


class RenderLeases:
    def __init__(self, client: redis.Redis, *, seconds: float = LEASE_SECONDS) -> None:
        self._redis = client
        self._seconds = seconds
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)

    @contextlib.contextmanager
    def hold(self, what: str) -> Iterator[None]:
        """`what`: a job id, or a book chunk's S3 address."""
        key, token = keys.render_lease(what), uuid.uuid4().hex
        if not self._redis.set(key, token, nx=True, px=int(self._seconds * 1000)):
            raise LeaseTaken(f"{what} is being rendered by another delivery; this copy waits for it")
        try:
            renew = lambda: self._extend(keys=[key], args=[token, int(self._seconds * 1000)])  # noqa: E731
            with kept_alive(renew, every=self._seconds / 3, name=f"render lease {what[-24:]}"):
                yield
        finally:
            with contextlib.suppress(redis.RedisError):
                self._release(keys=[key], args=[token])
