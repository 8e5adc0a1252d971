"""How long a task waits before it runs again: after a failure, or while capacity or credit is short."""

from __future__ import annotations

import random


def retry_delay(attempt: int, *, base: float, cap: float) -> float:
    """Exponential back-off with full jitter: spreads a burst of retries out."""
    return random.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def wait_delay(reason: Exception, *, cap: float = 15.0) -> float:
    """Short, jittered waits for a Fish slot; longer ones while the credit breaker is open; never over `cap`."""
    # A wait for credit (BreakerOpen's cause) is long; one for a slot or a lease is short.
    delay = random.uniform(5.0, 15.0) if getattr(reason, "cause", "") == "credit_wait" else random.uniform(0.2, 2.0)
    return min(delay, cap)
