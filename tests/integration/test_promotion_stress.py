"""Promotion steps racing each other and people, on a real Redis and S3, with a stand-in for Fish's voice calls.

The stand-in (`StagedVoices`) exists for timing the emulator cannot stage: a create
that stalls on cue, a demotion landing mid-call, a 402 on a voice call.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pytest
import redis

from worker import keys
from worker.errors import FishRejected
from worker.fish.breaker import CreditBreaker
from worker.fish.client import FishClient
from worker.fish.voices import FishVoices, VoiceInfo
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.promotion import PromotionContext, advance
from worker.voices.registry import ClipRef, Registry

H = "3" * 64
CLIP = b"RIFF not really a wav, the promoter only checks its sha256"


class StagedVoices:
    """FishVoices' interface over a dict. A created model shows up (by id or tag) only once `create` answers."""

    def __init__(self) -> None:
        self.longest_call_seconds = 480.0  # as FishVoices with the default client: four phases of 120 s
        self.models: dict[str, VoiceInfo] = {}
        self.creates = 0
        self.calls = 0
        self.create_started = threading.Event()
        self.let_create_finish = threading.Event()
        self.let_create_finish.set()
        self.during_get: Callable[[], None] = lambda: None
        self.rejections: dict[str, int] = {}  # method name -> HTTP status it answers with

    def create(self, *, title: str, clips: list[tuple[bytes, str]], tags: list[str]) -> VoiceInfo:
        self._called("create")
        self.creates += 1
        model = VoiceInfo(id=f"model-{self.creates}", state="created", title=title, tags=tuple(tags))
        self.create_started.set()
        assert self.let_create_finish.wait(10)
        self.models[model.id] = model
        return model

    def get(self, model_id: str) -> VoiceInfo | None:
        self._called("get")
        self.during_get()
        return self.models.get(model_id)

    def find_by_tag(self, tag: str) -> list[VoiceInfo]:
        self._called("find_by_tag")
        return [m for m in self.models.values() if tag in m.tags]

    def delete(self, model_id: str) -> bool:
        self._called("delete")
        return self.models.pop(model_id, None) is not None

    def trained(self, model_id: str) -> None:
        model = self.models.get(model_id) or VoiceInfo(
            id=model_id, state="trained", title="t", tags=(keys.fish_voice_tag(H),)
        )
        self.models[model_id] = VoiceInfo(id=model.id, state="trained", title=model.title, tags=model.tags)

    def _called(self, name: str) -> None:
        self.calls += 1
        status = self.rejections.get(name)
        if status is not None:
            raise FishRejected(f"the Fish API rejected the request ({status})", status=status)


@pytest.fixture
def registry(redis_client: redis.Redis) -> Registry:
    return Registry(redis_client)


@pytest.fixture
def voices() -> StagedVoices:
    return StagedVoices()


@pytest.fixture
def ctx(
    stack_env: dict[str, str], bucket: str, registry: Registry, voices: StagedVoices, redis_client: redis.Redis
) -> PromotionContext:
    storage = Storage()
    storage.put(bucket, "refs/clip.wav", CLIP, content_type="audio/wav")
    clip = ClipRef(
        bucket=bucket, key="refs/clip.wav", sha256=hashlib.sha256(CLIP).hexdigest(), size=len(CLIP), transcript="Hi."
    )
    registry.register(H, clips=[clip])
    settings = Settings(promote_poll_seconds=0.2, promote_max_attempts=3)
    return PromotionContext(
        settings=settings, registry=registry, voices=voices, storage=storage, breaker=CreditBreaker(redis_client)
    )  # type: ignore[arg-type]


def claim(registry: Registry) -> str:
    use = registry.use(H, clips=[], promote_after=0, max_attempts=3)
    assert use.claimed_promotion and use.claim_token
    return use.claim_token


def take_over(registry: Registry) -> str:
    """The claim's lease runs out (its promoter looks dead) and the next render claims anew."""
    registry.set_fields(H, lease_until=registry.now() - 1)
    return claim(registry)


def test_a_step_finishing_with_a_demotion_does_not_undo_it(
    ctx: PromotionContext, registry: Registry, voices: StagedVoices
) -> None:
    token = claim(registry)
    registry.mark_training(H, model_id="m1", token=token)
    voices.trained("m1")
    voices.during_get = lambda: registry.demote(H, reason="demoted by `narrate voices demote`")
    assert advance(H, token, ctx=ctx) is None
    entry = registry.get(H)
    assert entry["state"] == "demoted" and "model_id" not in entry and "claim_token" not in entry
    assert advance(H, token, ctx=ctx) is None and voices.calls == 1, "the demoted chain stops before calling Fish"


def test_a_chain_whose_claim_was_taken_over_stops_without_doing_anything(
    ctx: PromotionContext, registry: Registry, voices: StagedVoices
) -> None:
    stale = claim(registry)
    fresh = take_over(registry)
    before = registry.get(H)
    assert advance(H, stale, ctx=ctx) is None
    assert voices.calls == 0 and registry.get(H) == before
    assert advance(H, fresh, ctx=ctx) is not None and voices.creates == 1
    assert registry.get(H)["attempts"] == 1, "a takeover is the same attempt"


def test_a_stale_step_cannot_overwrite_the_newer_chain(
    ctx: PromotionContext, registry: Registry, voices: StagedVoices
) -> None:
    stale = claim(registry)
    registry.mark_training(H, model_id="m1", token=stale)
    voices.trained("m1")

    def newer_chain_moves_on() -> None:
        fresh = take_over(registry)
        assert registry.mark_training(H, model_id="m2", token=fresh)

    voices.during_get = newer_chain_moves_on
    assert advance(H, stale, ctx=ctx) is None
    entry = registry.get(H)
    assert (entry["state"], entry["model_id"]) == ("training", "m2")


def test_two_promoters_make_one_voice_when_the_first_outlives_its_lock(
    ctx: PromotionContext, registry: Registry, voices: StagedVoices
) -> None:
    first_token = claim(registry)
    voices.let_create_finish.clear()
    first = threading.Thread(target=advance, args=(H, first_token), kwargs={"ctx": ctx})
    first.start()
    try:
        assert voices.create_started.wait(10)
        second_token = take_over(registry)  # the first one's create is slow: its claim and its lock both lapse
        registry._redis.delete(keys.reference_create_lock(H))
        assert advance(H, second_token, ctx=ctx) is not None, "waits for the create in flight"
        assert voices.creates == 1
    finally:
        voices.let_create_finish.set()
        first.join(10)
    assert registry.get(H).get("model_id") is None, "the first one's claim had ended: it writes nothing"
    assert advance(H, second_token, ctx=ctx) is not None
    assert voices.creates == 1 and registry.get(H)["model_id"] == "model-1" and registry.get(H)["state"] == "training"


@pytest.mark.parametrize("stage", ["create", "get"])
def test_no_credit_during_promotion_opens_the_breaker_and_waits(
    stage: str, ctx: PromotionContext, registry: Registry, voices: StagedVoices
) -> None:
    token = claim(registry)
    if stage == "get":
        registry.mark_training(H, model_id="m1", token=token)
        voices.trained("m1")
    voices.rejections[stage] = 402
    delay = advance(H, token, ctx=ctx)
    assert delay is not None and 5.0 <= delay <= 15.0
    assert ctx.breaker is not None and ctx.breaker.status() is not None
    entry = registry.get(H)
    assert entry["state"] in ("promoting", "training") and entry["attempts"] == 1 and "retry_at" not in entry
    assert entry["claim_token"] == token and "creating_until" not in entry, "still this chain's: the next step goes on"


def test_while_the_breaker_is_open_a_step_calls_no_fish(
    ctx: PromotionContext, registry: Registry, voices: StagedVoices
) -> None:
    token = claim(registry)
    assert ctx.breaker is not None
    ctx.breaker.open(reason="402 from a render")
    delay = advance(H, token, ctx=ctx)
    assert delay is not None and 5.0 <= delay <= 15.0 and voices.calls == 0
    ctx.breaker.close()
    assert advance(H, token, ctx=ctx) is not None and voices.creates == 1


def test_the_longest_call_is_every_phase_of_the_clients_timeout_in_turn() -> None:
    settings = Settings(fish_base_url="http://127.0.0.1:9", fish_timeout_seconds=30)
    client = FishClient(settings)
    timeout = client._sdk._client_wrapper._client.timeout  # what httpx enforces: each phase on its own
    assert (
        FishVoices(client).longest_call_seconds == timeout.pool + timeout.connect + timeout.write + timeout.read == 120
    )


def test_the_creation_lock_outlives_the_longest_create_the_client_allows(
    ctx: PromotionContext, registry: Registry, voices: StagedVoices
) -> None:
    voices.longest_call_seconds = FishVoices(FishClient(ctx.settings)).longest_call_seconds  # the configured client's
    token = claim(registry)
    voices.let_create_finish.clear()
    step = threading.Thread(target=advance, args=(H, token), kwargs={"ctx": ctx})
    step.start()
    try:
        assert voices.create_started.wait(10)  # the create is in flight: what guards it now?
        lock_seconds = registry._redis.pttl(keys.reference_create_lock(H)) / 1000
        in_flight_seconds = float(registry.get(H)["creating_until"]) - registry.now()
    finally:
        voices.let_create_finish.set()
        step.join(10)
    assert lock_seconds > voices.longest_call_seconds and in_flight_seconds > voices.longest_call_seconds
    assert voices.creates == 1
