"""Render one job: text in, audio and manifest in S3. No Celery here.

Idempotent: a job whose manifest exists is finished and is not rendered again;
audio goes to a deterministic key and the manifest, written last, commits it.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from worker import audio, keys
from worker.chunking import split_text
from worker.errors import PermanentError, VoiceNotFound
from worker.fish import FishClient, Speech
from worker.jobs import ClipVoice, Manifest, OutputRecord, RenderJob, RequestRecord
from worker.settings import Settings
from worker.storage import Storage
from worker.voices import ClipRef, Registry

# Silence between chunks of one job: chunks end at sentence or paragraph boundaries.
CHUNK_PAUSE_SECONDS = 0.3
_CLIP_CACHE_BYTES = 64 * 1024 * 1024


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


def _no_promotion(reference_hash: str) -> None:
    return None


@dataclass
class RenderContext:
    settings: Settings
    storage: Storage
    fish: FishClient
    clips: ClipCache = field(default_factory=ClipCache)
    registry: Registry | None = None  # None: no counting, always one-shot
    start_promotion: Callable[[str], None] = _no_promotion


def render_job(job: RenderJob, *, ctx: RenderContext, attempt: int) -> Manifest:
    bucket, prefix, fmt = job.output.bucket, job.output.prefix, job.output.format
    manifest_key = keys.output_manifest(prefix, job.job_id)
    finished = ctx.storage.get(bucket, manifest_key)
    if finished is not None:
        return Manifest.model_validate_json(finished)  # delivered twice: already done

    started_at = datetime.now(timezone.utc)
    text_bytes = len(job.text.encode("utf-8"))
    if text_bytes > ctx.settings.max_text_bytes:
        raise PermanentError(
            f"the text is {text_bytes} bytes, over the limit of {ctx.settings.max_text_bytes}"
            " (NARRATE_MAX_TEXT_BYTES): split it into several jobs"
        )
    voice = _Voice.load(job, ctx=ctx)
    chunks = split_text(job.text, max_bytes=ctx.settings.chunk_bytes)
    requests: list[RequestRecord] = []
    if len(chunks) == 1:
        speech = voice.speak(chunks[0], fmt=fmt)
        requests.append(_record(0, chunks[0], speech))
        data = speech.audio
    else:
        data = audio.concatenate(
            _chunk_audio(chunks, voice=voice, ctx=ctx, bucket=bucket, requests=requests),
            fmt=fmt,
            pause_seconds=CHUNK_PAUSE_SECONDS,
        )
    info = audio.probe(data)

    audio_key = keys.output_audio(prefix, job.job_id, fmt)
    ctx.storage.put(bucket, audio_key, data, content_type=audio.CONTENT_TYPES[fmt])
    billed = [r for r in requests if not r.cached]
    modes = {r.mode for r in requests}
    manifest = Manifest(
        job_id=job.job_id,
        title=job.title,
        text_sha256=hashlib.sha256(job.text.encode("utf-8")).hexdigest(),
        text_bytes_billed=sum(r.text_bytes for r in billed),
        voice_reference_hash=voice.reference_hash,
        voice_reference_id=voice.reference_id or voice.last_model_id,
        voice_mode=modes.pop() if len(modes) == 1 else "mixed",
        reference_bytes_sent=sum(r.reference_bytes_sent for r in billed),
        fish_model=ctx.fish.model,
        fish_latency_seconds=round(sum(r.latency_seconds for r in billed), 4),
        requests=requests,
        output=OutputRecord(
            url=keys.s3_url(bucket, audio_key),
            key=audio_key,
            format=fmt,
            content_type=audio.CONTENT_TYPES[fmt],
            duration_seconds=round(info.duration_seconds, 3),
            size_bytes=len(data),
        ),
        attempts=attempt,
        submitted_at=job.submitted_at,
        started_at=started_at,
        finished_at=datetime.now(timezone.utc),
    )
    try:
        ctx.storage.put(bucket, manifest_key, manifest.model_dump_json(indent=2).encode(), content_type="application/json")
    except Exception:
        # Without its manifest the audio is not a finished output: do not leave it looking like one.
        try:
            ctx.storage.delete(bucket, audio_key)
        except Exception:
            pass
        raise
    return manifest


class _Voice:
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
    def load(cls, job: RenderJob, *, ctx: RenderContext) -> _Voice:
        if not isinstance(job.voice, ClipVoice):
            return cls(ctx=ctx, references=[], clip_refs=[], reference_id=job.voice.reference_id, reference_hash=None)
        refs = [
            ClipRef(bucket=clip.bucket or job.output.bucket, key=clip.key, sha256=clip.sha256, size=clip.size, transcript=clip.transcript)
            for clip in job.voice.clips
        ]
        references = [(_fetch_clip(ref.key, ref.sha256, bucket=ref.bucket, ctx=ctx), ref.transcript) for ref in refs]
        return cls(ctx=ctx, references=references, clip_refs=refs, reference_id=None, reference_hash=job.voice.reference_hash)

    @property
    def identity(self) -> str:
        return self.reference_id or self.reference_hash or ""

    def speak(self, text: str, *, fmt: str) -> Speech:
        fish = self._ctx.fish
        if self.reference_id:
            return fish.synthesize(text=text, fmt=fmt, reference_id=self.reference_id)
        model_id = self._count_use()
        if model_id:
            try:
                speech = fish.synthesize(text=text, fmt=fmt, reference_id=model_id)
                self.last_model_id = model_id
                return speech
            except VoiceNotFound as exc:
                assert self._ctx.registry is not None and self.reference_hash is not None
                self._ctx.registry.drop_model(self.reference_hash, model_id=model_id, reason=str(exc))
        return fish.synthesize(text=text, fmt=fmt, references=self.references)

    def _count_use(self) -> str | None:
        registry, settings = self._ctx.registry, self._ctx.settings
        if registry is None or self.reference_hash is None:
            return None
        use = registry.use(
            self.reference_hash,
            clips=self.clip_refs,
            promote_after=settings.promote_after,
            max_attempts=settings.promote_max_attempts,
        )
        if use.claimed_promotion:
            self._ctx.start_promotion(self.reference_hash)
        return use.model_id


def _fetch_clip(key: str, sha256: str, *, bucket: str, ctx: RenderContext) -> bytes:
    cached = ctx.clips.get(sha256)
    if cached is not None:
        return cached
    data = ctx.storage.get(bucket, key)
    if data is None:
        raise PermanentError(f"reference clip {keys.s3_url(bucket, key)} is missing: submit the job again to upload it")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise PermanentError(f"reference clip {keys.s3_url(bucket, key)} does not match its sha256: it was altered")
    ctx.clips.put(sha256, data)
    return data


def _chunk_audio(
    chunks: list[str], *, voice: _Voice, ctx: RenderContext, bucket: str, requests: list[RequestRecord]
) -> Iterator[bytes]:
    """Each chunk's WAV, from storage when an earlier attempt already paid for it."""
    for index, text in enumerate(chunks):
        key = keys.chunk_audio(_chunk_hash(text, voice=voice, model=ctx.fish.model))
        stored = ctx.storage.get(bucket, key)
        if stored is not None:
            mode = "reference_id" if voice.reference_id else "one_shot"
            requests.append(RequestRecord(chunk=index, text_bytes=len(text.encode()), mode=mode, reference_bytes_sent=0, latency_seconds=0.0, cached=True))
            yield stored
            continue
        speech = voice.speak(text, fmt="wav")
        ctx.storage.put(bucket, key, speech.audio, content_type=audio.CONTENT_TYPES["wav"])
        requests.append(_record(index, text, speech))
        yield speech.audio


def _chunk_hash(text: str, *, voice: _Voice, model: str) -> str:
    identity = {"v": 1, "text": text, "voice": voice.identity, "model": model, "format": "wav"}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def _record(index: int, text: str, speech: Speech) -> RequestRecord:
    return RequestRecord(
        chunk=index,
        text_bytes=len(text.encode("utf-8")),
        mode="reference_id" if speech.reference_id else "one_shot",
        reference_bytes_sent=speech.reference_bytes_sent,
        latency_seconds=round(speech.latency_seconds, 4),
    )
