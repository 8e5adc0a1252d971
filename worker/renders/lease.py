"""One delivery renders a job at a time: a short lease in Redis, kept alive while the render runs.

After a connection loss the broker hands every unacknowledged message out again
while the first copies keep running; the second copy of a job finds the lease
taken and waits instead of paying Fish for the same audio. A worker that dies
stops extending its leases, so they run out within `seconds`.
"""

from __future__ import annotations

import contextlib
import os
import random
import socket
import uuid
from collections.abc import Iterator

import redis

from worker import keys
from worker.errors import Wait
from worker.support.keepalive import kept_alive

LEASE_SECONDS = 10.0  # how long a dead holder can keep a copy waiting; renewed every third of it

# KEYS: lease. ARGV: token, milliseconds. Only the holder extends or releases.
_EXTEND = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"
# KEYS: lease. ARGV: holder prefix. The worker's parent releases a lease its dead or killed pool process held.
_RELEASE_HOLDER = """
local token = redis.call('GET', KEYS[1])
if token and string.sub(token, 1, string.len(ARGV[1])) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def holder_prefix(*, host: str, pid: int) -> str:
    """The start of every token a process takes: its parent can tell its leases from another delivery's."""
    return f"{host}:{pid}:"


class LeaseTaken(Wait):
    """Another delivery of the same job is rendering it: wait, without counting a failure."""


class RenderLeases:
    def __init__(self, client: redis.Redis, *, seconds: float = LEASE_SECONDS) -> None:
        self._redis = client
        self._seconds = seconds
        self._extend = client.register_script(_EXTEND)
        self._release = client.register_script(_RELEASE)
        self._release_holder = client.register_script(_RELEASE_HOLDER)

    @contextlib.contextmanager
    def hold(self, what: str) -> Iterator[None]:
        """`what`: a job id, or a book chunk's S3 address."""
        key = keys.render_lease(what)
        token = holder_prefix(host=socket.gethostname(), pid=os.getpid()) + uuid.uuid4().hex
        if not self._redis.set(key, token, nx=True, px=int(self._seconds * 1000)):
            # Back after about half a lease: by then a dead holder's lease has run out, or a live one has finished.
            raise LeaseTaken(
                f"{what} is being rendered by another delivery; this copy waits for it",
                delay=self._seconds / 2 + random.uniform(0, 2),
            )
        try:
            renew = lambda: self._extend(keys=[key], args=[token, int(self._seconds * 1000)])  # noqa: E731
            with kept_alive(renew, every=self._seconds / 3, name=f"render lease {what[-24:]}"):
                yield
        finally:
            with contextlib.suppress(redis.RedisError):
                self._release(keys=[key], args=[token])

    def release_held_by(self, what: str, *, host: str, pid: int) -> bool:
        """Release `what`'s lease only if that process holds it: a later delivery's lease stays."""
        return bool(self._release_holder(keys=[keys.render_lease(what)], args=[holder_prefix(host=host, pid=pid)]))
