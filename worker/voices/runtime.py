"""The voices' contexts in one worker process, built from the shared clients (worker.runtime).

A render's context (Fish, S3, the reference registry, held renders, leases, and how a promotion
is started) serves single jobs and book chunks alike; a promotion's serves the promote task.
"""

from __future__ import annotations

from worker.app import app
from worker.contract import PROMOTE_TASK, VOICES_QUEUE
from worker.fish.breaker import CreditBreaker
from worker.fish.voices import FishVoices
from worker.runtime import fish_client, held_renders, per_process, redis_client, render_leases, storage
from worker.settings import get_settings
from worker.voices.promotion import PromotionContext
from worker.voices.registry import Registry
from worker.voices.speaker import RenderContext


@per_process
def registry() -> Registry:
    return Registry(redis_client())


@per_process
def render_context() -> RenderContext:
    """One Fish client and one S3 client per worker process."""
    return RenderContext(
        settings=get_settings(),
        storage=storage(),
        fish=fish_client(),
        registry=registry(),
        held=held_renders(),
        leases=render_leases(),
        start_promotion=start_promotion,
    )


def start_promotion(reference_hash: str, token: str | None = None) -> None:
    """The chain carries the claim's token; without one the task adopts the promotion under way."""
    args = (reference_hash, token) if token else (reference_hash,)
    app.send_task(PROMOTE_TASK, args=args, queue=VOICES_QUEUE)


@per_process
def promotion_context() -> PromotionContext:
    return PromotionContext(
        settings=get_settings(),
        registry=registry(),
        voices=FishVoices(fish_client()),
        storage=storage(),
        breaker=CreditBreaker(redis_client()),
    )
