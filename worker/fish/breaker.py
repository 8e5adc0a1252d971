"""A cluster-wide circuit breaker for Fish credit: after a 402, nobody calls Fish until it is resumed.

Jobs wait instead of failing; `narrate resume` or the periodic credit check
closes the breaker, and the waiting jobs go on by themselves.
"""

from __future__ import annotations

import time

import redis

from worker import keys
from worker.errors import Wait


class BreakerOpen(Wait):
    """Fish calls are suspended; the job waits and is not counted as failing."""

    cause = "credit_wait"


class CreditBreaker:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def open(self, *, reason: str) -> None:
        self._redis.hset(keys.fish_breaker(), mapping={"state": "open", "reason": reason, "opened_at": time.time()})

    def close(self) -> bool:
        """True if it was open: the one place every resumption (`narrate resume`, the credit check) goes through."""
        return bool(self._redis.delete(keys.fish_breaker()))

    def status(self) -> dict[str, str] | None:
        raw = self._redis.hgetall(keys.fish_breaker())
        return {k.decode(): v.decode() for k, v in raw.items()} or None

    def check(self) -> None:
        """Raise BreakerOpen while the breaker is open."""
        status = self.status()
        if status is not None:
            raise BreakerOpen(
                f"waiting: Fish calls are paused since a 402 ({status.get('reason', 'insufficient credit')});"
                " top up the Fish account, then run `narrate resume`"
            )


def enough_to_resume(credit: float, *, resume_usd: float) -> bool:
    """Credit worth resuming for: a few cents would let a burst of requests through, meet a 402 and open the breaker
    again."""
    return credit > 0 and credit >= resume_usd
