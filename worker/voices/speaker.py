"""Who speaks a request: the reference clips (one-shot) or a Fish voice id, and the context to do it.

Shared by single jobs and audiobook chunks: both count uses in the registry,
switch to a trained voice, and fall back to the clips when it has vanished.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from worker import keys
from worker.audio.flac import lossless_flac
from worker.contract import ClipVoice, ModelVoice, Synthesis
from worker.errors import PermanentError, VoiceNotFound
from worker.fish.client import FishClient, Speech
from worker.fish.limiter import SlotUnavailable
from worker.renders.held import HeldRenders
from worker.renders.lease import RenderLeases
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.clips import check_clip, check_voice_identity
from worker.voices.registry import ClipRef, Registry

_CLIP_CACHE_BYTES = 64 * 1024 * 1024


class PromotionPending(SlotUnavailable):
    """The reference's voice is being made: wait like for a busy slot, without using up an attempt."""


class ClipCache:
    """Reference clips by sha256, least recently used first out; clips are immutable."""

    def __init__(self, max_bytes: int = _CLIP_CACHE_BYTES) -> None:
        self._items: OrderedDict[str, bytes] = OrderedDict()
        self._max = max_bytes
        self._size = 0

    def get(self, sha256: str) -> bytes | None:
        data = self._items.get(sha256)
        if data is not None:
            self._items.move_to_end(sha256)
        return data

    def put(self, sha256: str, data: bytes) -> None:
        if sha256 in self._items:
            return
        self._items[sha256] = data
        self._size += len(data)
        while self._size > self._max and len(self._items) > 1:
            _, evicted = self._items.popitem(last=False)
            self._size -= len(evicted)


def _no_promotion(reference_hash: str, token: str | None = None) -> None:
    return None


@dataclass
class RenderContext:
    settings: Settings
    storage: Storage
    fish: FishClient
    clips: ClipCache = field(default_factory=ClipCache)
    registry: Registry | None = None  # None: no counting, always one-shot
    start_promotion: Callable[[str, str | None], None] = _no_promotion
    held: HeldRenders | None = None  # None: nothing held across a storage failure
    leases: RenderLeases | None = None  # None: no guard against two deliveries rendering the same audio


class Speaker:
    """What each request of a job sends: the clips (one-shot), or a Fish voice id.

    A user's own voice id (`ModelVoice`) is sent as is. Clips are counted in the
    registry on every request; once their reference is promoted and trained,
    only the model id goes out, and a model that has vanished falls back to the
    clips for that same request.
    """

    def __init__(
        self,
        *,
        ctx: RenderContext,
        references: list[tuple[bytes, str]],
        clip_refs: list[ClipRef],
        reference_id: str | None,
        reference_hash: str | None,
    ) -> None:
        self._ctx = ctx
        self.references = references
        self.clip_refs = clip_refs
        self.reference_id = reference_id
        self.reference_hash = reference_hash
        self.last_model_id: str | None = None

    @classmethod
    def load(cls, voice: ClipVoice | ModelVoice, *, bucket: str, ctx: RenderContext) -> Speaker:
        """`bucket` holds clips that do not name their own (the job's output bucket)."""
        if not isinstance(voice, ClipVoice):
            return cls(ctx=ctx, references=[], clip_refs=[], reference_id=voice.reference_id, reference_hash=None)
        # Before anything is fetched or counted; fetch_clip then holds each clip's bytes to its sha256.
        check_voice_identity(voice)
        refs = [
            ClipRef(
                bucket=clip.bucket or bucket,
                key=clip.key,
                sha256=clip.sha256,
                size=clip.size,
                transcript=clip.transcript,
            )
            for clip in voice.clips
        ]
        references = [(wire_clip(ref, ctx=ctx), ref.transcript) for ref in refs]
        return cls(
            ctx=ctx, references=references, clip_refs=refs, reference_id=None, reference_hash=voice.reference_hash
        )

    @property
    def identity(self) -> str:
        return self.reference_id or self.reference_hash or ""

    def speak(self, text: str, *, fmt: str, synthesis: Synthesis = Synthesis()) -> Speech:
        fish = self._ctx.fish
        if self.reference_id:
            return fish.synthesize(text=text, fmt=fmt, reference_id=self.reference_id, synthesis=synthesis)
        # A use is counted only once the request can go out: waiting for a slot or credit is not a use.
        with fish.slot():
            model_id = self._count_use()
            if model_id:
                try:
                    speech = fish.synthesize(text=text, fmt=fmt, reference_id=model_id, synthesis=synthesis)
                    self.last_model_id = model_id
                    return speech
                except VoiceNotFound as exc:
                    assert self._ctx.registry is not None and self.reference_hash is not None
                    self._ctx.registry.drop_model(self.reference_hash, model_id=model_id, reason=str(exc))
            return fish.synthesize(text=text, fmt=fmt, references=self.references, synthesis=synthesis)

    def _count_use(self) -> str | None:
        registry, settings = self._ctx.registry, self._ctx.settings
        if registry is None or self.reference_hash is None:
            return None
        use = registry.use(
            self.reference_hash,
            clips=self.clip_refs,
            promote_after=settings.promote_after,
            max_attempts=settings.promote_max_attempts,
            wait_seconds=settings.promote_wait_seconds,
            wire_bytes=sum(len(audio) for audio, _ in self.references),
        )
        if use.wait:
            raise PromotionPending(
                f"reference {self.reference_hash[:12]} is being promoted to a Fish voice: waiting for it"
                f" (up to NARRATE_PROMOTE_WAIT_SECONDS={settings.promote_wait_seconds:g})"
                " instead of sending the clips again"
            )
        if use.claimed_promotion:
            self._ctx.start_promotion(self.reference_hash, use.claim_token)
        return use.model_id


def wire_clip(ref: ClipRef, *, ctx: RenderContext) -> bytes:
    """The clip as one-shot requests send it: FLAC when that is lossless and smaller (see reference_audio)."""
    clip = fetch_clip(ref.key, ref.sha256, bucket=ref.bucket, ctx=ctx)
    if ctx.settings.reference_encoding == "original":
        return clip
    wire_key = f"{ref.sha256}.flac"
    cached = ctx.clips.get(wire_key)
    if cached is None:
        cached = lossless_flac(clip) or clip
        ctx.clips.put(wire_key, cached)
    return cached


def fetch_clip(key: str, sha256: str, *, bucket: str, ctx: RenderContext) -> bytes:
    cached = ctx.clips.get(sha256)
    if cached is not None:
        return cached
    data = ctx.storage.get(bucket, key)
    if data is None:
        raise PermanentError(f"reference clip {keys.s3_url(bucket, key)} is missing: submit the job again to upload it")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise PermanentError(f"reference clip {keys.s3_url(bucket, key)} does not match its sha256: it was altered")
    check_clip(data, where=keys.s3_url(bucket, key))
    ctx.clips.put(sha256, data)
    return data
