"""Promote a reference to a persistent Fish voice: one step per call, no sleeping.

`advance` does what the registry's state calls for and returns how long to
wait before the next step (None: nothing left to do). The task layer turns that
into a countdown, so training is followed without holding a worker slot.

A chain carries the claim token it was started with; every write it makes is
conditional on that token (see Registry), so a chain whose claim was taken over
or ended by a person stops at its next step without touching anything.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from worker import keys
from worker.errors import FishRejected, PermanentError, TransientError
from worker.fish.breaker import BreakerOpen, CreditBreaker
from worker.fish.voices import FishVoices, VoiceInfo
from worker.observability import metrics
from worker.observability.events import event
from worker.settings import Settings
from worker.storage import Storage
from worker.support.backoff import wait_delay
from worker.voices.registry import Registry, clips_of

log = logging.getLogger("narrate.promotion")

_NO_CREDIT = 402
_CREATE_MARGIN_SECONDS = 60.0


@dataclass
class PromotionContext:
    settings: Settings
    registry: Registry
    voices: FishVoices
    storage: Storage
    breaker: CreditBreaker | None = None  # None: a 402 still waits, but nothing else is told to


def advance(reference_hash: str, token: str, *, ctx: PromotionContext) -> float | None:
    poll = ctx.settings.promote_poll_seconds
    # The ownership check and the lease are one compare-and-set: nothing happens between them.
    if not ctx.registry.extend_lease(reference_hash, seconds=max(poll * 3, 60.0), token=token):
        return None  # finished, demoted, or claimed anew by someone else meanwhile
    entry = ctx.registry.get(reference_hash) or {}
    try:
        if ctx.breaker is not None:
            ctx.breaker.check()  # no Fish call while the account has no credit
        model_id = entry.get("model_id") or _find_or_create(reference_hash, token, ctx=ctx)
        if model_id is None:
            return poll  # another promoter holds the creation lock, or its create is in flight: look again shortly
        return _follow_training(reference_hash, token, model_id, entry, ctx=ctx)
    except BreakerOpen as exc:
        return wait_delay(exc, cap=ctx.settings.longest_countdown)
    except FishRejected as exc:
        if exc.status == _NO_CREDIT:
            return _wait_for_credit(exc, ctx=ctx)
        _fail(reference_hash, token, entry, reason=str(exc), ctx=ctx)
        return None
    except TransientError:
        raise
    except PermanentError as exc:
        _fail(reference_hash, token, entry, reason=str(exc), ctx=ctx)
        return None


def _wait_for_credit(exc: FishRejected, *, ctx: PromotionContext) -> float:
    """No credit is the account's state, not this voice's fault: wait like renders do, without using an attempt."""
    if ctx.breaker is not None:
        ctx.breaker.open(reason=str(exc))
    log.warning("promotion waits: %s", exc)
    return wait_delay(BreakerOpen(str(exc)), cap=ctx.settings.longest_countdown)


def _find_or_create(reference_hash: str, token: str, *, ctx: PromotionContext) -> str | None:
    lock = ctx.registry.creation_lock(reference_hash, seconds=_create_seconds(ctx))
    if lock is None:
        return None
    try:
        return _create_once(reference_hash, token, ctx=ctx)
    finally:
        ctx.registry.release_creation_lock(reference_hash, lock)


def _create_once(reference_hash: str, token: str, *, ctx: PromotionContext) -> str | None:
    """Under the creation lock: re-read everything, since a promoter whose lock lapsed may have finished meanwhile."""
    entry = ctx.registry.get(reference_hash) or {}
    if entry.get("claim_token") != token:
        return None  # taken over while waiting for the lock: the next step stops
    if entry.get("model_id"):
        return entry["model_id"]
    existing = _existing_model(reference_hash, ctx=ctx)
    if existing is not None:
        metrics.PROMOTIONS.labels(outcome="relinked").inc()
        event(
            log,
            logging.INFO,
            "reference %s: re-linked existing Fish voice %s",
            reference_hash[:12],
            existing.id,
            reference_hash=reference_hash,
            outcome="relinked",
        )
        linked = ctx.registry.link(
            reference_hash, model_id=existing.id, trained=existing.state == "trained", token=token
        )
        return existing.id if linked else None
    if float(entry.get("creating_until") or 0) > ctx.registry.now():
        return None  # a create whose lock lapsed is still in flight: its voice will show up by tag
    audio = _clip_audio(entry, ctx=ctx)
    if not ctx.registry.mark_creating(reference_hash, seconds=_create_seconds(ctx), token=token):
        return None
    try:
        created = ctx.voices.create(
            title=_title(reference_hash, entry), clips=audio, tags=[keys.fish_voice_tag(reference_hash)]
        )
    except BaseException:
        ctx.registry.clear_creating(reference_hash, token=token)  # ours is over: the tag lookup covers one that landed
        raise
    if not ctx.registry.mark_training(reference_hash, model_id=created.id, token=token):
        log.warning(
            "reference %s: created Fish voice %s after its claim ended; its tag links it later",
            reference_hash[:12],
            created.id,
        )
        return None
    log.info("reference %s: created Fish voice %s", reference_hash[:12], created.id)
    return created.id


def _create_seconds(ctx: PromotionContext) -> float:
    """How long the creation lock and the in-flight mark hold: past the longest voices.create the client allows.

    The lock also covers the tag lookup before the create (one more call) and reading the clips from S3 (the margin);
    if it lapsed while a create was still in flight, a second promoter would make a second voice.
    """
    return 2 * ctx.voices.longest_call_seconds + _CREATE_MARGIN_SECONDS


def _title(reference_hash: str, entry: dict) -> str:
    return entry.get("title") or entry.get("name") or f"narrate voice {reference_hash[:12]}"


def _clip_audio(entry: dict, *, ctx: PromotionContext) -> list[tuple[bytes, str]]:
    clips = clips_of(entry)
    if not clips:
        raise PermanentError("the registry holds no clips for this reference: submit a job with it first")
    audio = []
    for clip in clips:
        data = ctx.storage.get(clip.bucket, clip.key)
        if data is None or hashlib.sha256(data).hexdigest() != clip.sha256:
            raise PermanentError(f"reference clip {keys.s3_url(clip.bucket, clip.key)} is missing or altered")
        audio.append((data, clip.transcript))
    return audio


def _existing_model(reference_hash: str, *, ctx: PromotionContext) -> VoiceInfo | None:
    """A model already made for this reference (Redis lost, or a crash after create)."""
    usable = [v for v in ctx.voices.find_by_tag(keys.fish_voice_tag(reference_hash)) if v.state != "failed"]
    usable.sort(key=lambda v: v.state != "trained")
    return usable[0] if usable else None


def _follow_training(
    reference_hash: str, token: str, model_id: str, entry: dict, *, ctx: PromotionContext
) -> float | None:
    model = ctx.voices.get(model_id)
    if model is None:
        # A failed attempt like any other: bounded, with back-off, so a voice that keeps vanishing is not re-made
        # forever.
        _fail(reference_hash, token, entry, reason=f"Fish voice {model_id} disappeared during training", ctx=ctx)
        return None
    if model.state == "trained":
        if ctx.registry.mark_trained(reference_hash, model_id=model_id, token=token):
            metrics.PROMOTIONS.labels(outcome="trained").inc()
            event(
                log,
                logging.INFO,
                "reference %s: Fish voice %s trained; renders now send only its id",
                reference_hash[:12],
                model_id,
                reference_hash=reference_hash,
                outcome="trained",
            )
        return None
    if model.state == "failed":
        _fail(reference_hash, token, entry, reason=f"Fish voice {model_id} failed training", ctx=ctx, model_id=model_id)
        return None
    now = ctx.registry.now()
    elapsed = now - float((ctx.registry.get(reference_hash) or {}).get("training_started") or now)
    if elapsed > ctx.settings.promote_timeout_seconds:
        reason = f"Fish voice {model_id} still {model.state} after {ctx.settings.promote_timeout_seconds:.0f} s"
        _fail(reference_hash, token, entry, reason=reason, ctx=ctx, model_id=model_id)
        return None
    # Fish's fast training is usually done in seconds and renders may be waiting for it:
    # look again soon at first, then every promote_poll_seconds.
    return min(ctx.settings.promote_poll_seconds, max(0.5, elapsed))


def _fail(
    reference_hash: str, token: str, entry: dict, *, reason: str, ctx: PromotionContext, model_id: str | None = None
) -> None:
    attempts = int(entry.get("attempts", 1) or 1)
    settings = ctx.settings
    retry_in = (
        settings.promote_retry_seconds * 2 ** (attempts - 1) if attempts < settings.promote_max_attempts else None
    )
    suffix = f"; retry after {retry_in:.0f} s" if retry_in is not None else f"; gave up after {attempts} attempts"
    # Recorded first: only the chain that still owns the claim may give its model up.
    if not ctx.registry.mark_failed(reference_hash, reason=reason + suffix, retry_in=retry_in, token=token):
        return
    if model_id:
        # A model that failed or timed out is of no use: do not leave it on the account.
        try:
            ctx.voices.delete(model_id)
        except (TransientError, PermanentError):
            pass
    metrics.PROMOTIONS.labels(outcome="failed").inc()
    event(
        log,
        logging.WARNING,
        "reference %s: promotion failed: %s%s",
        reference_hash[:12],
        reason,
        suffix,
        reference_hash=reference_hash,
        outcome="failed",
    )
