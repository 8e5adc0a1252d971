"""A job's chunks rendered: several at once, each paid for once, whatever fails in between.

A chunk's audio is addressed by what makes it (text, voice, model, synthesis
settings), so a chunk an earlier attempt or another delivery stored is reused;
one whose upload failed waits in Redis (worker.renders.held) until S3 takes it;
one that another copy is still rendering is waited for under its lease.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from worker import keys
from worker.audio import codec
from worker.contract import RequestRecord, Synthesis
from worker.errors import AudioError, FishUnavailable, StorageUnavailable
from worker.fish.client import Speech
from worker.jobs.heard import Hearing
from worker.support.readahead import read_ahead
from worker.takes.loop import Chunk, take_chunk
from worker.takes.summary import chunk_summary
from worker.voices.speaker import RenderContext, Speaker

# Chunks of one long job rendered at once (never more than NARRATE_FISH_CONCURRENCY): a 500 KB text is 500
# requests, far too many to make one after another within a render's time limit.
PARALLEL_CHUNKS = 4


@dataclass
class Progress:
    """What one attempt has stored: an attempt stopped by its time limit after storing chunks was not wasted."""

    chunks_stored: int = 0


def rendered_chunks(
    chunks: list[str],
    *,
    voice: Speaker,
    ctx: RenderContext,
    bucket: str,
    requests: list[RequestRecord],
    synthesis: Synthesis,
    progress: Progress,
    hearing: Hearing | None = None,
) -> Iterator[bytes]:
    """Each chunk's WAV in order, several rendered at once within the cluster's cap (each request takes its slot).

    With `hearing`, each chunk is taken through worker.takes (heard, retaken as its mode says) and its takes
    summary and length are kept there."""
    parallel = min(ctx.settings.fish_concurrency, PARALLEL_CHUNKS)

    def render(index: int) -> tuple[bytes, list[RequestRecord]]:
        if hearing is not None:
            return heard_chunk(
                index, chunks[index], voice=voice, ctx=ctx, bucket=bucket, synthesis=synthesis, hearing=hearing
            )
        audio, record = _one_chunk(index, chunks[index], voice=voice, ctx=ctx, bucket=bucket, synthesis=synthesis)
        return audio, [record]

    for audio, records in read_ahead(range(len(chunks)), render, ahead=parallel, name="narrate-chunk"):
        if not all(record.cached for record in records):
            progress.chunks_stored += 1
        requests.extend(records)
        yield audio


def chunk_key(text: str, *, voice: Speaker, ctx: RenderContext, synthesis: Synthesis) -> str:
    """A chunk's content address: its text, the voice, the model and the settings."""
    return keys.chunk_audio(
        keys.chunk_hash(text, voice=voice.identity, model=ctx.fish.model, synthesis=synthesis.address())
    )


def _one_chunk(
    index: int, text: str, *, voice: Speaker, ctx: RenderContext, bucket: str, synthesis: Synthesis
) -> tuple[bytes, RequestRecord]:
    """A chunk's WAV, from storage (or held in Redis) when an earlier attempt or delivery already paid for it."""
    key = chunk_key(text, voice=voice, ctx=ctx, synthesis=synthesis)
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
        record = request_record(index, text, speech)
        store_paid(ctx, bucket, key, speech.audio, record=record, content_type=codec.CONTENT_TYPES["wav"])
    return speech.audio, record


def heard_chunk(
    index: int, text: str, *, voice: Speaker, ctx: RenderContext, bucket: str, synthesis: Synthesis, hearing: Hearing
) -> tuple[bytes, list[RequestRecord]]:
    """A chunk's chosen take, heard (and retaken) under its lease; the requests paid now, or one cached record."""

    def render() -> tuple[bytes, RequestRecord]:
        speech = voice.speak(text, fmt="wav", synthesis=synthesis)
        check_fish_audio(speech.audio)
        return speech.audio, request_record(index, text, speech)

    where = Chunk(bucket=bucket, key=chunk_key(text, voice=voice, ctx=ctx, synthesis=synthesis), text=text)
    with ctx.leases.hold(keys.s3_url(bucket, where.key)) if ctx.leases else contextlib.nullcontext():
        taken = take_chunk(where, render=render, listening=hearing.listening, ctx=ctx)
    hearing.summaries[index] = chunk_summary(
        taken.record, seconds_heard=taken.seconds_heard_now, retake_bytes=taken.retake_bytes_now
    )
    hearing.seconds[index] = codec.probe(taken.audio).duration_seconds
    if taken.paid:
        return taken.audio, [record.model_copy(update={"chunk": index}) for record in taken.paid]
    mode = "reference_id" if voice.reference_id else "one_shot"
    cached = RequestRecord(
        chunk=index, text_bytes=len(text.encode()), mode=mode, reference_bytes_sent=0, latency_seconds=0.0, cached=True
    )
    return taken.audio, [cached]


def _already_paid(
    index: int, text: str, *, voice: Speaker, ctx: RenderContext, bucket: str, key: str
) -> tuple[bytes, RequestRecord] | None:
    """The chunk's WAV from storage, or held in Redis by an attempt whose upload failed (stored now); else None."""
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


def request_record(index: int, text: str, speech: Speech) -> RequestRecord:
    """What one request to Fish cost and took, for the manifest."""
    return RequestRecord(
        chunk=index,
        text_bytes=len(text.encode("utf-8")),
        mode="reference_id" if speech.reference_id else "one_shot",
        reference_bytes_sent=speech.reference_bytes_sent,
        latency_seconds=round(speech.latency_seconds, 4),
    )
