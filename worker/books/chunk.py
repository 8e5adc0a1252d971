"""Render one chunk of a book to its content-addressed WAV, paying Fish for it at most once.

A chunk already in storage is reused. Audio Fish has returned but S3 would not
take is held in Redis (worker.renders.held) until a retry, on any worker, stores it.
"""

from __future__ import annotations

from worker import keys
from worker.audio import codec
from worker.books.context import BookContext
from worker.books.plan import ChunkMessage
from worker.contract import RequestRecord
from worker.errors import StorageUnavailable
from worker.fish.client import Speech
from worker.jobs.chunks import check_fish_audio
from worker.voices.speaker import Speaker


def render_chunk(message: ChunkMessage, *, ctx: BookContext) -> tuple[bool, int]:
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
