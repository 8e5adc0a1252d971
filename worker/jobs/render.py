"""Render one job: text in, audio and manifest in S3. No Celery here.

Idempotent: a job whose manifest exists is finished and is not rendered again;
audio goes to a deterministic key and the manifest, written last, commits it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime

from worker import keys
from worker.audio import codec
from worker.audio.scratch import scratch_folder
from worker.contract import Manifest, OutputRecord, RenderJob, RequestRecord
from worker.errors import StorageUnavailable
from worker.jobs.chunks import Progress, check_fish_audio, rendered_chunks, request_record
from worker.jobs.heard import Hearing
from worker.jobs.lexicons import job_lexicon
from worker.takes.summary import costs
from worker.text.chunking import split_text
from worker.voices.speaker import RenderContext, Speaker

# Silence between chunks of one job: chunks end at sentence or paragraph boundaries.
CHUNK_PAUSE_SECONDS = 0.3


@dataclass(frozen=True)
class _OneRequest:
    """A one-request job's audio: paid for by this attempt, or held in Redis by an earlier one whose upload failed."""

    held_key: str
    data: bytes
    record: RequestRecord
    info: codec.AudioInfo
    was_held: bool


def render_job(job: RenderJob, *, ctx: RenderContext, attempt: int, progress: Progress | None = None) -> Manifest:
    """The job's manifest: found committed by an earlier delivery, or the job rendered, stored and committed now."""
    bucket = job.output.bucket
    manifest_key = keys.output_manifest(job.output.prefix, job.job_id)
    done = _committed(ctx, bucket=bucket, manifest_key=manifest_key)
    if done is not None:
        return done  # delivered twice: already done
    started_at = datetime.now(UTC)
    voice = Speaker.load(job.voice, bucket=bucket, ctx=ctx)
    lexicon = job_lexicon(job.lexicons, bucket=bucket, storage=ctx.storage)
    replaced = lexicon.apply(job.text)
    chunks = split_text(replaced.text, max_bytes=ctx.settings.chunk_bytes)
    applied = replaced.entries_in(chunks) if replaced.spans else [[] for _ in chunks]
    hearing = Hearing.of(job, lexicon=lexicon, words=applied, limits=ctx.settings.qc_thresholds)
    # A heard job renders WAV chunks even when one request would do: the recognizer hears the take, not an MP3.
    one = _one_request(job, chunks[0], voice=voice, ctx=ctx) if len(chunks) == 1 and hearing is None else None
    with _held_until_committed(one, ctx=ctx):
        requests, output = _store_audio(
            job, chunks, one=one, voice=voice, ctx=ctx, progress=progress or Progress(), hearing=hearing
        )
        requests = [r.model_copy(update={"lexicon": applied[r.chunk]}) if applied[r.chunk] else r for r in requests]
        manifest = _manifest(
            job, voice=voice, requests=requests, output=output, ctx=ctx, attempt=attempt, started_at=started_at
        )
        if hearing is not None:
            report = costs(
                hearing.report(chunks, pause_seconds=CHUNK_PAUSE_SECONDS),
                asr_price_per_hour=ctx.settings.asr_price_per_hour,
                price_per_million_bytes=ctx.settings.price_per_million_bytes,
            )
            manifest = manifest.model_copy(update={"qc": report})
        _commit(manifest, ctx=ctx, bucket=bucket, manifest_key=manifest_key)
    return manifest


def _committed(ctx: RenderContext, *, bucket: str, manifest_key: str) -> Manifest | None:
    """The manifest an earlier delivery committed, if its audio is still there."""
    finished = ctx.storage.get(bucket, manifest_key)
    if finished is None:
        return None
    done = Manifest.model_validate_json(finished)
    if ctx.storage.exists(bucket, done.output.key):
        return done
    ctx.storage.delete(bucket, manifest_key)  # a manifest whose audio is gone commits nothing
    return None


def _one_request(job: RenderJob, text: str, *, voice: Speaker, ctx: RenderContext) -> _OneRequest:
    """A one-request job's audio: what Fish already returned to an earlier attempt, or asked for now."""
    # Audio that Fish already returned, kept in case storing it failed: a retry here does not pay twice.
    held_key = f"{job.job_id}.{job.output.format}"
    held = ctx.held.get(held_key) if ctx.held else None
    if held is not None:
        data, record = held  # paid for by an earlier attempt: still billed once, in this manifest
        return _OneRequest(held_key, data, record, codec.probe(data), was_held=True)
    speech = voice.speak(text, fmt=job.output.format, synthesis=job.synthesis)
    info = check_fish_audio(speech.audio)
    return _OneRequest(held_key, speech.audio, request_record(0, text, speech), info, was_held=False)


@contextmanager
def _held_until_committed(one: _OneRequest | None, *, ctx: RenderContext) -> Iterator[None]:
    """A one-request job's audio outlives S3 being down until its manifest commits it.

    Audio paid for by this attempt is held in Redis when S3 cannot take it (or its manifest); audio an earlier
    attempt held is dropped from Redis once committed. A longer job's chunks are held one by one (`store_paid`).
    """
    if one is None or ctx.held is None:
        yield
    elif one.was_held:
        yield
        ctx.held.drop(one.held_key)
    else:
        try:
            yield
        except StorageUnavailable:
            ctx.held.put(one.held_key, data=one.data, record=one.record)
            raise


def _store_audio(
    job: RenderJob,
    chunks: list[str],
    *,
    one: _OneRequest | None,
    voice: Speaker,
    ctx: RenderContext,
    progress: Progress,
    hearing: Hearing | None,
) -> tuple[list[RequestRecord], OutputRecord]:
    """The job's audio stored at its output key: one request's as it came, or every chunk's joined."""
    bucket, fmt = job.output.bucket, job.output.format
    audio_key = keys.output_audio(job.output.prefix, job.job_id, fmt)
    requests: list[RequestRecord] = []
    if one is not None:
        requests.append(one.record)
        info, size = one.info, len(one.data)
        ctx.storage.put(bucket, audio_key, one.data, content_type=codec.CONTENT_TYPES[fmt])
    else:
        chunk_audio = rendered_chunks(
            chunks,
            voice=voice,
            ctx=ctx,
            bucket=bucket,
            requests=requests,
            synthesis=job.synthesis,
            progress=progress,
            hearing=hearing,
        )
        info, size = _store_joined(chunk_audio, ctx=ctx, bucket=bucket, key=audio_key, fmt=fmt, job_id=job.job_id)
    return requests, OutputRecord(
        url=keys.s3_url(bucket, audio_key),
        key=audio_key,
        format=fmt,
        content_type=codec.CONTENT_TYPES[fmt],
        duration_seconds=round(info.duration_seconds, 3),
        size_bytes=size,
    )


def _manifest(
    job: RenderJob,
    *,
    voice: Speaker,
    requests: list[RequestRecord],
    output: OutputRecord,
    ctx: RenderContext,
    attempt: int,
    started_at: datetime,
) -> Manifest:
    billed = [r for r in requests if not r.cached]
    modes = {r.mode for r in requests}
    return Manifest(
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
        output=output,
        attempts=attempt,
        submitted_at=job.submitted_at,
        started_at=started_at,
        finished_at=datetime.now(UTC),
    )


def _commit(manifest: Manifest, *, ctx: RenderContext, bucket: str, manifest_key: str) -> None:
    """The manifest written last: it makes the audio a finished output."""
    try:
        ctx.storage.put(
            bucket, manifest_key, manifest.model_dump_json(indent=2).encode(), content_type="application/json"
        )
    except Exception:
        # Without its manifest the audio is not a finished output: do not leave it looking like one.
        with suppress(Exception):
            ctx.storage.delete(bucket, manifest.output.key)
        raise


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
