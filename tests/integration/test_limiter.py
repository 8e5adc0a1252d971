"""The cluster-wide Fish slot cap on a real Redis: leases that outlive long requests, one slot per thread."""

from __future__ import annotations

import threading
import time

import pytest
import redis

from tests.support.jobs import clip_voice
from worker import keys
from worker.fish.client import FishClient
from worker.fish.limiter import FishLimiter, SlotUnavailable
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.registry import Registry
from worker.voices.speaker import RenderContext, Speaker


class CountingLimiter(FishLimiter):
    """The real limiter, counting the slots it hands out."""

    taken = 0

    def try_acquire(self) -> str | None:
        holder = super().try_acquire()
        self.taken += holder is not None
        return holder


def hold_in_thread(enter: object, *, seconds: float) -> tuple[threading.Thread, threading.Event]:
    """Run `with enter():` in another thread for `seconds`; the event is set once it is inside."""
    inside = threading.Event()

    def hold() -> None:
        with enter():  # type: ignore[operator]
            inside.set()
            time.sleep(seconds)

    thread = threading.Thread(target=hold)
    thread.start()
    assert inside.wait(5)
    return thread, inside


def test_a_request_longer_than_the_lease_keeps_its_slot(redis_client: redis.Redis) -> None:
    limiter = FishLimiter(redis_client, limit=1, lease_seconds=1.0, wait_seconds=0.1)
    holder, _ = hold_in_thread(limiter.slot, seconds=3.0)
    got_in = []
    while holder.is_alive():
        taken = limiter.try_acquire()
        if taken is not None:
            got_in.append(taken)
            limiter.release(taken)
        time.sleep(0.1)
    holder.join()
    assert got_in == [], "a second request got a slot while the first still ran"
    assert limiter.try_acquire() is not None, "released on exit"


def test_a_released_slot_is_not_taken_back_by_its_renewal(redis_client: redis.Redis) -> None:
    limiter = FishLimiter(redis_client, limit=1, lease_seconds=0.3, wait_seconds=0.1)
    with limiter.slot():
        time.sleep(0.25)
    time.sleep(0.3)
    assert redis_client.zcard(keys.fish_slots()) == 0


def test_two_threads_of_one_client_do_not_share_a_slot(stack_env: dict[str, str], redis_client: redis.Redis) -> None:
    limiter = CountingLimiter(redis_client, limit=1, lease_seconds=5.0, wait_seconds=0.3)
    fish = FishClient(Settings(), limiter=limiter)
    holder, _ = hold_in_thread(fish.slot, seconds=1.0)
    with pytest.raises(SlotUnavailable):
        with fish.slot():
            pass
    holder.join()
    with fish.slot():
        with fish.slot():  # nested in one thread: the same slot
            pass
    assert limiter.taken == 2


def test_the_vanished_voice_fallback_goes_out_in_the_same_slot(
    stack_env: dict[str, str], emulator, bucket: str, reference_clip, redis_client: redis.Redis
) -> None:
    settings = Settings()
    limiter = CountingLimiter(redis_client, limit=1, lease_seconds=30.0, wait_seconds=0.2)
    registry = Registry(redis_client)
    ctx = RenderContext(
        settings=settings,
        storage=Storage(),
        fish=FishClient(settings, limiter=limiter),
        registry=registry,
        start_promotion=lambda reference_hash, token=None: None,
    )
    voice = clip_voice(ctx.storage, bucket=bucket, clip=reference_clip)
    registry.mark_trained(voice.reference_hash, model_id="deleted-in-the-dashboard")

    speech = Speaker.load(voice, bucket=bucket, ctx=ctx).speak("Hello there.", fmt="mp3")

    assert speech.reference_id is None and speech.reference_bytes_sent > 0, "sent one-shot"
    assert [(r["mode"], r["status"]) for r in emulator.requests()] == [("reference_id", 400), ("one_shot", 200)]
    assert limiter.taken == 1, "the fallback took no second slot"
    assert registry.get(voice.reference_hash)["state"] == "one_shot"
