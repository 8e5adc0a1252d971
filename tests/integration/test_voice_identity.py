"""A message cannot borrow another voice: real S3, Redis registry and Fish emulator behind the worker's Speaker."""

from __future__ import annotations

import pytest
import redis

from tests.support.jobs import clip_voice
from worker.contract import ClipVoice
from worker.errors import BadInput
from worker.fish.client import FishClient
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.registry import Registry
from worker.voices.speaker import RenderContext, Speaker


def test_another_voices_hash_with_any_clip_is_refused_before_anything_is_sent_or_counted(
    stack_env: dict[str, str], emulator, bucket: str, reference_clip, short_clip, redis_client: redis.Redis
) -> None:
    settings, registry = Settings(), Registry(redis_client)
    ctx = RenderContext(settings=settings, storage=Storage(), fish=FishClient(settings), registry=registry)
    victim = clip_voice(ctx.storage, bucket=bucket, clip=reference_clip)
    Speaker.load(victim, bucket=bucket, ctx=ctx).speak("The victim's own first use.", fmt="mp3")
    registry.mark_trained(victim.reference_hash, model_id=emulator.create_model(reference_clip))
    before = registry.get(victim.reference_hash)
    emulator.reset()
    # The attacker's own clip, uploaded honestly (its sha256 is right), under the victim's identity.
    own = clip_voice(ctx.storage, bucket=bucket, clip=short_clip)
    borrowed = ClipVoice(reference_hash=victim.reference_hash, clips=own.clips)

    with pytest.raises(BadInput, match="is not the identity of its clips"):
        Speaker.load(borrowed, bucket=bucket, ctx=ctx).speak("Spoken in a stolen voice.", fmt="mp3")

    assert emulator.requests() == [], "nothing went to Fish"
    assert registry.get(victim.reference_hash) == before, "no use counted against the victim, its model kept"
    speech = Speaker.load(own, bucket=bucket, ctx=ctx).speak("Spoken in my own voice.", fmt="mp3")
    assert speech.reference_id is None and speech.reference_bytes_sent > 0, "its own clip is its own voice: one-shot"
