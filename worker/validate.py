"""Checks on a job message beyond its schema: size limits and what the worker must refuse.

Messages can come from any Celery client, so the worker checks again what the
producer already checked; each refusal says what is wrong and how to fix it.
"""

from __future__ import annotations

import json
from typing import Any

from worker import audio
from worker.errors import BadInput, InvalidJob
from worker.jobs import RenderJob
from worker.settings import Settings


def check_message_size(payload: Any, *, limit: int) -> None:
    size = len(json.dumps(payload, default=str).encode("utf-8"))
    if size > limit:
        raise InvalidJob(f"invalid job message: {size} bytes, over the limit of {limit} (NARRATE_MAX_MESSAGE_BYTES)")


def check_job(job: RenderJob, *, settings: Settings) -> None:
    text_bytes = len(job.text.encode("utf-8"))
    if text_bytes > settings.max_text_bytes:
        raise BadInput(
            f"the text is {text_bytes} bytes, over the limit of {settings.max_text_bytes}"
            " (NARRATE_MAX_TEXT_BYTES): split it into several jobs"
        )


# A reference under a second has no voice to clone; one over two minutes only makes every request heavy.
CLIP_MIN_SECONDS = 1.0
CLIP_MAX_SECONDS = 120.0


def check_clip(data: bytes, *, where: str) -> None:
    """A reference clip fetched from S3 must be audio of a usable length."""
    try:
        seconds = audio.probe(data).duration_seconds
    except BadInput as exc:
        raise BadInput(f"reference clip {where} is {exc}: upload a WAV/MP3/FLAC/OGG of 10-30 s of speech") from exc
    if seconds < CLIP_MIN_SECONDS:
        raise BadInput(f"reference clip {where} is {seconds:.2f} s; at least {CLIP_MIN_SECONDS:.0f} s of speech is needed (10-30 s is best)")
    if seconds > CLIP_MAX_SECONDS:
        raise BadInput(f"reference clip {where} is {seconds:.0f} s; at most {CLIP_MAX_SECONDS:.0f} s is accepted (10-30 s is best)")
