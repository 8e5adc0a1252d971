"""The clients one worker process shares: made lazily after the fork, one of each per process.

Only what belongs to no capability lives here: the Redis client, S3, the Fish client with its
cluster-wide slot cap and credit breaker, held renders and render leases. Each capability builds
its own context from these in its own package (worker.jobs.runtime, worker.voices.runtime,
worker.books.runtime), with `per_process`, so one fork forgets every one of them.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import TypeVar

import redis

from worker.fish.breaker import CreditBreaker
from worker.fish.client import FishClient
from worker.fish.limiter import FishLimiter
from worker.infra.redisconn import connect_with
from worker.renders.held import HeldRenders
from worker.renders.lease import RenderLeases
from worker.settings import get_settings
from worker.storage import Storage

T = TypeVar("T")
_forgetters: list[Callable[[], None]] = []  # each per-process factory's cache_clear


def per_process(factory: Callable[[], T]) -> Callable[[], T]:
    """`factory`, made once per process on first use and forgotten in a forked child."""
    cached = lru_cache(maxsize=1)(factory)
    _forgetters.append(cached.cache_clear)
    return cached


@per_process
def redis_client() -> redis.Redis:
    """For leases, records, registries and broker reads: one connection pool per process."""
    return connect_with(get_settings())


@per_process
def storage() -> Storage:
    return Storage.from_settings(get_settings())


@per_process
def fish_client() -> FishClient:
    """One Fish client per process, under the cluster-wide slot cap and the credit breaker."""
    settings = get_settings()
    limiter = FishLimiter(
        redis_client(), limit=settings.fish_concurrency, lease_seconds=settings.fish_timeout_seconds + 30
    )
    return FishClient(settings, limiter=limiter, breaker=CreditBreaker(redis_client()))


@per_process
def held_renders() -> HeldRenders:
    return HeldRenders(redis_client())


@per_process
def render_leases() -> RenderLeases:
    return RenderLeases(redis_client())


def forget_clients() -> None:
    """Connections inherited from a parent process must not be shared with it."""
    for forget in _forgetters:
        forget()


# Covers the prefork pool's children and any other fork, without a Celery signal.
os.register_at_fork(after_in_child=forget_clients)
