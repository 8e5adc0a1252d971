"""Render one job: text in, audio and manifest in S3. No Celery here.

Idempotent: a job whose manifest exists is finished and is not rendered again;
audio goes to a deterministic key and the manifest, written last, commits it.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from worker import keys
from worker.audio import codec
from worker.audio.scratch import scratch_folder
from worker.contract import Manifest, OutputRecord, RenderJob, RequestRecord, Synthesis
from worker.errors import AudioError, FishUnavailable, StorageUnavailable
from worker.fish.client import Speech
from worker.jobs.lexicons import job_lexicon
from worker.support.readahead import read_ahead
from worker.text.chunking import split_text
from worker.voices.speaker import RenderContext, Speaker

# Silence between chunks of one job: chunks end at sentence or paragraph boundaries.
CHUNK_PAUSE_SECONDS = 0.3
# Chunks of one long job rendered at once (never more than NARRATE_FISH_CONCURRENCY): a 500 KB text is 500
# requests, far too many to make one after another within a render's time limit.
PARALLEL_CHUNKS = 4


@dataclass
class Progress:
    """What one attempt has stored: an attempt stopped by its time limit after storing chunks was not wasted."""

    chunks_stored: int = 0


def render_job(job: RenderJob, *, ctx: RenderContext, attempt: int, progress: Progress | None = None) -> Manifest:
    bucket, prefix, fmt = job.output.bucket, job.output.prefix, job.output.format
    manifest_key = keys.output_manifest(prefix, job.job_id)
    finished = ctx.storage.get(bucket, manifest_key)
    if finished is not None:
        done = Manifest.model_validate_json(finished)
        if ctx.storage.exists(bucket, done.output.key):
            return done  # delivered twice: already done
        ctx.storage.delete(bucket, manifest_key)  # a manifest whose audio is gone commits nothing

    started_at = datetime.now(UTC)
    voice = Speaker.load(job.voice, bucket=bucket, ctx=ctx)
    replaced = job_lexicon(job.lexicons, bucket=bucket, storage=ctx.storage).apply(job.text)
    chunks = split_text(replaced.text, max_bytes=ctx.settings.chunk_bytes)
    requests: list[RequestRecord] = []
    held_key: str | None = None
    held: tuple[bytes, RequestRecord] | None = None
    data = b""  # a one-request job's audio, kept to hold in Redis if storing fails
    audio_key = keys.output_audio(prefix, job.job_id, fmt)
    if len(chunks) == 1:
        # Audio that Fish already returned, kept in case storing it failed: a retry here does not pay twice.
        held_key = f"{job.job_id}.{fmt}"
        held = ctx.held.get(held_key) if ctx.held else None
        checked: codec.AudioInfo | None = None
        if held is not None:
            data, first = held
            requests.append(first)  # paid for by an earlier attempt: still billed once, in this manifest
        else:
            speech = voice.speak(chunks[0], fmt=fmt, synthesis=job.synthesis)
            checked = check_fish_audio(speech.audio)
            requests.append(_record(0, chunks[0], speech))
            data = speech.audio
        info, size = checked or codec.probe(data), len(data)
        try:
            ctx.storage.put(bucket, audio_key, data, content_type=codec.CONTENT_TYPES[fmt])
        except StorageUnavailable:
            if ctx.held is not None and held is None:
                ctx.held.put(held_key, data=data, record=requests[0])
            raise
    else:
        chunk_audio = _chunk_audio(
            chunks,
            voice=voice,
            ctx=ctx,
            bucket=bucket,
            requests=requests,
            synthesis=job.synthesis,
            progress=progress or Progress(),
        )
        info, size = _store_joined(chunk_audio, ctx=ctx, bucket=bucket, key=audio_key, fmt=fmt, job_id=job.job_id)
    if replaced.spans:
        applied = replaced.entries_in(chunks)
        requests = [r.model_copy(update={"lexicon": applied[r.chunk]}) if applied[r.chunk] else r for r in requests]
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
            content_type=codec.CONTENT_TYPES[fmt],
            duration_seconds=round(info.duration_seconds, 3),
            size_bytes=size,
        ),
        attempts=attempt,
        submitted_at=job.submitted_at,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )
    try:
        ctx.storage.put(
            bucket, manifest_key, manifest.model_dump_json(indent=2).encode(), content_type="application/json"
        )
    except Exception as exc:
        if isinstance(exc, StorageUnavailable) and held_key is not None and ctx.held is not None and held is None:
            ctx.held.put(held_key, data=data, record=requests[0])
        # Without its manifest the audio is not a finished output: do not leave it looking like one.
        try:
            ctx.storage.delete(bucket, audio_key)
        except Exception:
            pass
        raise
    if held_key is not None and held is not None and ctx.held is not None:
        ctx.held.drop(held_key)
    return manifest


def _store_joined(
    parts: Iterator[bytes], *, ctx: RenderContext, bucket: str, key: str, fmt: str, job_id: str
) -> tuple[codec.AudioInfo, int]:
    """The chunks joined in a file on local disk and uploaded from it: the longest WAV job (about 3 GB at 44.1 kHz)
    is never whole in memory, let alone twice. The audio's measurements and size in bytes."""
    with scratch_folder(
        kind="job",
        doing=f"joining job {job_id}'s audio",
        fix="free space under the temporary folder or give the render workers more (WAV takes about"
        " 318 MB per audio hour at 44.1 kHz); the job is retried",
    ) as folder:
        path = folder / f"audio.{fmt}"
        codec.concatenate_to_file(parts, path, fmt=fmt, pause_seconds=CHUNK_PAUSE_SECONDS)
        info = codec.probe(path)
        ctx.storage.put_file(bucket, key, str(path), content_type=codec.CONTENT_TYPES[fmt])
        return info, path.stat().st_size


def _chunk_audio(
    chunks: list[str],
    *,
    voice: Speaker,
    ctx: RenderContext,
    bucket: str,
    requests: list[RequestRecord],
    synthesis: Synthesis,
    progress: Progress,
) -> Iterator[bytes]:
    """Each chunk's WAV in order, several rendered at once within the cluster's cap (each request takes its slot)."""
    parallel = min(ctx.settings.fish_concurrency, PARALLEL_CHUNKS)
    render = lambda index: _one_chunk(index, chunks[index], voice=voice, ctx=ctx, bucket=bucket, synthesis=synthesis)  # noqa: E731
    for audio, record in read_ahead(range(len(chunks)), render, ahead=parallel, name="narrate-chunk"):
        if not record.cached:
            progress.chunks_stored += 1
        requests.append(record)
        yield audio


def _one_chunk(
    index: int, text: str, *, voice: Speaker, ctx: RenderContext, bucket: str, synthesis: Synthesis
) -> tuple[bytes, RequestRecord]:
    """A chunk's WAV, from storage (or held in Redis) when an earlier attempt or another delivery already paid for it."""
    key = keys.chunk_audio(
        keys.chunk_hash(text, voice=voice.identity, model=ctx.fish.model, synthesis=synthesis.address())
    )
    found = _already_paid(index, text, voice=voice, ctx=ctx, bucket=bucket, key=key)
    if found is not None:
        return found
    # A render still running from an attempt stopped at its time limit holds this lease: wait for it, do not pay twice.
    with ctx.leases.hold(keys.s3_url(bucket, key)) if ctx.leases else contextlib.nullcontext():
        # Looked again under the lease: a copy that held it may have stored the chunk and let go since the look above.
        found = _already_paid(index, text, voice=voice, ctx=ctx, bucket=bucket, key=key) if ctx.leases else None
        if found is not None:
            return found
        speech = voice.speak(text, fmt="wav", synthesis=synthesis)
        check_fish_audio(speech.audio)  # never cache what cannot be decoded: every later use would fail
        record = _record(index, text, speech)
        store_paid(ctx, bucket, key, speech.audio, record=record, content_type=codec.CONTENT_TYPES["wav"])
    return speech.audio, record


def _already_paid(
    index: int, text: str, *, voice: Speaker, ctx: RenderContext, bucket: str, key: str
) -> tuple[bytes, RequestRecord] | None:
    """The chunk's WAV from storage, or held in Redis by an earlier attempt whose upload failed (stored now); else None."""
    stored = ctx.storage.get(bucket, key)
    if stored is not None:
        mode = "reference_id" if voice.reference_id else "one_shot"
        return stored, RequestRecord(
            chunk=index,
            text_bytes=len(text.encode()),
            mode=mode,
            reference_bytes_sent=0,
            latency_seconds=0.0,
            cached=True,
        )
    held = ctx.held.get(keys.s3_url(bucket, key)) if ctx.held else None
    if held is not None:
        audio, record = held[0], held[1].model_copy(update={"chunk": index})
        store_paid(ctx, bucket, key, audio, record=record, content_type=codec.CONTENT_TYPES["wav"], was_held=True)
        return audio, record
    return None


def store_paid(
    ctx: RenderContext,
    bucket: str,
    key: str,
    data: bytes,
    *,
    record: RequestRecord,
    content_type: str,
    was_held: bool = False,
) -> None:
    """Store audio Fish was paid for; while S3 cannot take it, hold it in Redis so no retry pays again."""
    try:
        ctx.storage.put(bucket, key, data, content_type=content_type)
    except StorageUnavailable:
        if ctx.held is not None:
            ctx.held.put(keys.s3_url(bucket, key), data=data, record=record)
        raise
    if was_held and ctx.held is not None:
        ctx.held.drop(keys.s3_url(bucket, key))


def check_fish_audio(data: bytes) -> codec.AudioInfo:
    """Audio Fish answered with 200 but that does not decode is Fish's fault, and worth another try."""
    try:
        return codec.probe(data)
    except AudioError as exc:
        raise FishUnavailable(f"the Fish API returned audio that does not decode ({exc}); will retry") from None


def _record(index: int, text: str, speech: Speech) -> RequestRecord:
    return RequestRecord(
        chunk=index,
        text_bytes=len(text.encode("utf-8")),
        mode="reference_id" if speech.reference_id else "one_shot",
        reference_bytes_sent=speech.reference_bytes_sent,
        latency_seconds=round(speech.latency_seconds, 4),
    )
