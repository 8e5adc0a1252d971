"""The clients one worker process uses: made lazily after the fork, one of each per process."""

from __future__ import annotations

import os
from functools import lru_cache

import redis

from worker.app import VOICES_QUEUE, app
from worker.books.render import BookContext
from worker.books.state import BookState
from worker.contract import PROMOTE_TASK
from worker.fish.breaker import CreditBreaker
from worker.fish.client import FishClient, FishVoices
from worker.fish.limiter import FishLimiter
from worker.infra.redisconn import connect_with
from worker.jobs.records import JobStore
from worker.renders.held import HeldRenders
from worker.renders.lease import RenderLeases
from worker.settings import get_settings
from worker.storage import Storage
from worker.voices.promotion import PromotionContext
from worker.voices.registry import Registry
from worker.voices.speaker import RenderContext


@lru_cache(maxsize=1)
def job_store() -> JobStore:
    settings = get_settings()
    return JobStore.from_url(
        settings.broker_url, master_name=settings.redis_master_name, ttl_seconds=settings.record_ttl_seconds
    )


@lru_cache(maxsize=1)
def redis_client() -> redis.Redis:
    """For leases and broker reads; the stores below keep their own connections."""
    return connect_with(get_settings())


@lru_cache(maxsize=1)
def render_context() -> RenderContext:
    """One Fish client and one S3 client per worker process."""
    settings = get_settings()
    client = connect_with(settings)
    limiter = FishLimiter(client, limit=settings.fish_concurrency, lease_seconds=settings.fish_timeout_seconds + 30)
    return RenderContext(
        settings=settings,
        storage=Storage.from_settings(settings),
        fish=FishClient(settings, limiter=limiter, breaker=CreditBreaker(client)),
        registry=Registry(client),
        held=HeldRenders(client),
        leases=RenderLeases(client),
        start_promotion=start_promotion,
    )


def start_promotion(reference_hash: str, token: str | None = None) -> None:
    """The chain carries the claim's token; without one the task adopts the promotion under way."""
    args = (reference_hash, token) if token else (reference_hash,)
    app.send_task(PROMOTE_TASK, args=args, queue=VOICES_QUEUE)


@lru_cache(maxsize=1)
def promotion_context() -> PromotionContext:
    ctx = render_context()
    assert ctx.registry is not None
    breaker = CreditBreaker(redis_client())
    return PromotionContext(
        settings=ctx.settings, registry=ctx.registry, voices=FishVoices(ctx.fish), storage=ctx.storage, breaker=breaker
    )


@lru_cache(maxsize=1)
def book_context() -> BookContext:
    settings = get_settings()
    return BookContext(
        render=render_context(),
        state=BookState.from_url(
            settings.broker_url, master_name=settings.redis_master_name, ttl_seconds=settings.record_ttl_seconds
        ),
    )


def forget_clients() -> None:
    """Connections inherited from a parent process must not be shared with it."""
    for factory in (job_store, redis_client, render_context, promotion_context, book_context):
        factory.cache_clear()


# Covers the prefork pool's children and any other fork, without a Celery signal.
os.register_at_fork(after_in_child=forget_clients)
