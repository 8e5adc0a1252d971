"""Render one chunk of a book to its content-addressed WAV, paying Fish for it at most once.

A chunk already in storage is reused. Audio Fish has returned but S3 would not
take is held in Redis (worker.renders.held) until a retry, on any worker, stores it.
With proof-listening on (the plan's `qc`), the chunk is taken through worker.takes:
every take heard and judged, retaken while it fails, the best chosen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker import keys
from worker.audio import codec
from worker.books.context import BookContext
from worker.books.plan import BookPlan, ChunkMessage
from worker.contract import RequestRecord
from worker.errors import StorageUnavailable
from worker.fish.client import Speech
from worker.jobs.chunks import check_fish_audio
from worker.jobs.lexicons import job_lexicon
from worker.takes.listen import Listening, replacements
from worker.takes.loop import Chunk, take_chunk
from worker.takes.summary import chunk_summary
from worker.voices.speaker import Speaker


@dataclass(frozen=True)
class Rendered:
    rendered: bool  # a take was paid for now (one only heard now counts as reused)
    billed_bytes: int  # TTS bytes paid for now
    qc: dict[str, Any] | None = None  # the chunk's takes summary (worker.takes.summary); None: not heard


def render_chunk(message: ChunkMessage, plan: BookPlan, *, ctx: BookContext) -> Rendered:
    """The chunk's audio at its content address: heard and retaken as the plan's `qc` asks, or as it comes."""
    if plan.qc.mode == "off":
        rendered, billed = _render_unheard(message, ctx=ctx)
        return Rendered(rendered, billed)
    speaker: list[Speaker] = []

    def render() -> tuple[bytes, RequestRecord]:
        if not speaker:
            speaker.append(Speaker.load(message.voice, bucket=message.bucket, ctx=ctx.render))
        speech = speaker[0].speak(message.text, fmt="wav", synthesis=message.synthesis)
        check_fish_audio(speech.audio)
        return speech.audio, _record(message, speech)

    chunk = Chunk(bucket=message.bucket, key=message.key, text=message.text)
    taken = take_chunk(chunk, render=render, listening=_listening(message, plan, ctx=ctx), ctx=ctx.render)
    billed = sum(r.text_bytes for r in taken.paid)
    summary = chunk_summary(taken.record, seconds_heard=taken.seconds_heard_now, retake_bytes=taken.retake_bytes_now)
    return Rendered(bool(taken.paid), billed, summary)


def _listening(message: ChunkMessage, plan: BookPlan, *, ctx: BookContext) -> Listening:
    chapter = next(c for c in plan.chapters if c.index == message.chapter)  # checked there (check_chunk_in_plan)
    planned = next(c for c in chapter.chunks if c.index == message.index)
    pairs: tuple[tuple[str, str], ...] = ()
    if planned.lexicon:
        lexicon = job_lexicon(plan.lexicons, bucket=message.bucket, storage=ctx.render.storage)
        pairs = replacements(lexicon, planned.lexicon)
    return Listening(
        plan.qc,
        language=plan.qc.language or plan.language,
        lexicon=pairs,
        limits=ctx.render.settings.qc_thresholds,
    )


def _render_unheard(message: ChunkMessage, *, ctx: BookContext) -> tuple[bool, int]:
    """(rendered, bytes billed): nothing is sent to Fish when the chunk's audio exists or is held."""
    storage, held_renders = ctx.render.storage, ctx.render.held
    held_key = held_chunk_key(message)
    held = held_renders.get(held_key) if held_renders is not None else None
    billed = len(message.text.encode("utf-8"))
    if storage.exists(message.bucket, message.key):
        if held is None:
            return False, 0
        # Stored by the attempt that paid for it, though it heard a failure: paid once, and counted once.
        held_renders.drop(held_key)  # type: ignore[union-attr]
        return True, held[1].text_bytes
    if held is not None:
        audio = held[0]  # paid for by an earlier attempt
    else:
        speaker = Speaker.load(message.voice, bucket=message.bucket, ctx=ctx.render)
        speech = speaker.speak(message.text, fmt="wav", synthesis=message.synthesis)
        check_fish_audio(speech.audio)  # never store what cannot be decoded: it would poison every later assembly
        audio = speech.audio
    try:
        storage.put(message.bucket, message.key, audio, content_type=codec.CONTENT_TYPES["wav"])
    except StorageUnavailable:
        if held is None and held_renders is not None:
            held_renders.put(held_key, data=audio, record=_record(message, speech))
        raise
    if held is not None:
        held_renders.drop(held_key)  # type: ignore[union-attr]
    return True, billed


def held_chunk_key(message: ChunkMessage) -> str:
    """Where a chunk's unstored audio waits: its S3 address (a chunk key alone is the same in every bucket)."""
    return keys.s3_url(message.bucket, message.key)


def _record(message: ChunkMessage, speech: Speech) -> RequestRecord:
    return RequestRecord(
        chunk=message.index,
        text_bytes=len(message.text.encode("utf-8")),
        mode="reference_id" if speech.reference_id else "one_shot",
        reference_bytes_sent=speech.reference_bytes_sent,
        latency_seconds=round(speech.latency_seconds, 4),
    )
