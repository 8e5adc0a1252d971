"""Promote a reference to a persistent Fish voice: one step per call, no sleeping.

`advance` does what the registry's state calls for and returns how long to
wait before the next step (None: nothing left to do). The task layer turns that
into a countdown, so training is followed without holding a worker slot.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass

from worker import keys
from worker.errors import PermanentError, TransientError
from worker.fish.client import FishVoices, VoiceInfo
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.registry import Registry, clips_of

log = logging.getLogger("narrate.promotion")


@dataclass
class PromotionContext:
    settings: Settings
    registry: Registry
    voices: FishVoices
    storage: Storage


def advance(reference_hash: str, *, ctx: PromotionContext) -> float | None:
    entry = ctx.registry.get(reference_hash)
    if entry is None or entry.get("state") not in ("promoting", "training"):
        return None  # finished, demoted, or taken back by a person meanwhile
    poll = ctx.settings.promote_poll_seconds
    ctx.registry.extend_lease(reference_hash, seconds=max(poll * 3, 60.0))
    try:
        model_id = entry.get("model_id") or _find_or_create(reference_hash, entry, ctx=ctx)
        if model_id is None:
            return poll  # another promoter holds the creation lock: look again shortly
        return _follow_training(reference_hash, model_id, entry, ctx=ctx)
    except TransientError:
        raise
    except PermanentError as exc:
        _fail(reference_hash, entry, reason=str(exc), ctx=ctx)
        return None


def _find_or_create(reference_hash: str, entry: dict, *, ctx: PromotionContext) -> str | None:
    if not ctx.registry.creation_lock(reference_hash, seconds=max(120.0, ctx.settings.fish_timeout_seconds * 2)):
        return None
    try:
        existing = _existing_model(reference_hash, ctx=ctx)
        if existing is not None:
            log.info("reference %s: re-linked existing Fish voice %s", reference_hash[:12], existing.id)
            ctx.registry.link(reference_hash, model_id=existing.id, trained=existing.state == "trained")
            return existing.id
        clips = clips_of(entry)
        if not clips:
            raise PermanentError("the registry holds no clips for this reference: submit a job with it first")
        audio = []
        for clip in clips:
            data = ctx.storage.get(clip.bucket, clip.key)
            if data is None or hashlib.sha256(data).hexdigest() != clip.sha256:
                raise PermanentError(f"reference clip {keys.s3_url(clip.bucket, clip.key)} is missing or altered")
            audio.append((data, clip.transcript))
        title = entry.get("title") or entry.get("name") or f"narrate voice {reference_hash[:12]}"
        created = ctx.voices.create(title=title, clips=audio, tags=[keys.fish_voice_tag(reference_hash)])
        ctx.registry.mark_training(reference_hash, model_id=created.id)
        log.info("reference %s: created Fish voice %s", reference_hash[:12], created.id)
        return created.id
    finally:
        ctx.registry.release_creation_lock(reference_hash)


def _existing_model(reference_hash: str, *, ctx: PromotionContext) -> VoiceInfo | None:
    """A model already made for this reference (Redis lost, or a crash after create)."""
    usable = [v for v in ctx.voices.find_by_tag(keys.fish_voice_tag(reference_hash)) if v.state != "failed"]
    usable.sort(key=lambda v: v.state != "trained")
    return usable[0] if usable else None


def _follow_training(reference_hash: str, model_id: str, entry: dict, *, ctx: PromotionContext) -> float | None:
    model = ctx.voices.get(model_id)
    if model is None:
        # A failed attempt like any other: bounded, with back-off, so a voice that keeps vanishing is not re-made forever.
        _fail(reference_hash, entry, reason=f"Fish voice {model_id} disappeared during training", ctx=ctx)
        return None
    if model.state == "trained":
        ctx.registry.mark_trained(reference_hash, model_id=model_id)
        log.info("reference %s: Fish voice %s trained; renders now send only its id", reference_hash[:12], model_id)
        return None
    if model.state == "failed":
        _fail(reference_hash, entry, reason=f"Fish voice {model_id} failed training", ctx=ctx, model_id=model_id)
        return None
    started = float((ctx.registry.get(reference_hash) or {}).get("training_started") or time.time())
    elapsed = time.time() - started
    if elapsed > ctx.settings.promote_timeout_seconds:
        reason = f"Fish voice {model_id} still {model.state} after {ctx.settings.promote_timeout_seconds:.0f} s"
        _fail(reference_hash, entry, reason=reason, ctx=ctx, model_id=model_id)
        return None
    # Fish's fast training is usually done in seconds and renders may be waiting for it:
    # look again soon at first, then every promote_poll_seconds.
    return min(ctx.settings.promote_poll_seconds, max(0.5, elapsed))


def _fail(reference_hash: str, entry: dict, *, reason: str, ctx: PromotionContext, model_id: str | None = None) -> None:
    attempts = int(entry.get("attempts", 1) or 1)
    settings = ctx.settings
    retry_in = settings.promote_retry_seconds * 2 ** (attempts - 1) if attempts < settings.promote_max_attempts else None
    if model_id:
        # A model that failed or timed out is of no use: do not leave it on the account.
        try:
            ctx.voices.delete(model_id)
        except (TransientError, PermanentError):
            pass
    suffix = f"; retry after {retry_in:.0f} s" if retry_in is not None else f"; gave up after {attempts} attempts"
    ctx.registry.mark_failed(reference_hash, reason=reason + suffix, retry_in=retry_in)
    log.warning("reference %s: promotion failed: %s%s", reference_hash[:12], reason, suffix)
