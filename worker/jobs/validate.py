"""Checks on a job message beyond its schema: size limits and what the worker must refuse.

Messages can come from any Celery client, so the worker checks again what the
producer already checked; each refusal says what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from worker.audio import codec
from worker.contract import ClipVoice, RenderJob, reference_hash
from worker.errors import BadInput, InvalidJob
from worker.settings import Settings

# C0 and C1 controls and DEL, except newline, carriage return and tab: they are not speech, and
# escape sequences or NULs in a text are a sign of a binary file or an attempt at terminal injection.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


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
    check_text_characters(job.text, where="the text")


def check_text_characters(text: str, *, where: str) -> None:
    """Refuse control characters other than newline, carriage return and tab, naming the first one."""
    found = _TEXT_CONTROL.search(text)
    if found is not None:
        raise BadInput(
            f"{where} contains control character U+{ord(found.group()):04X} at character {found.start()}:"
            " only newline, carriage return and tab are allowed; remove it"
        )


# A reference under a second has no voice to clone; one over two minutes only makes every request heavy.
CLIP_MIN_SECONDS = 1.0
CLIP_MAX_SECONDS = 120.0


def check_clip(data: bytes, *, where: str) -> None:
    """A reference clip fetched from S3 must be audio of a usable length."""
    try:
        seconds = codec.probe(data).duration_seconds
    except BadInput as exc:
        raise BadInput(f"reference clip {where} is not usable audio: {exc}; upload a WAV/MP3/FLAC/OGG of 10-30 s of speech") from exc
    if seconds < CLIP_MIN_SECONDS:
        raise BadInput(f"reference clip {where} is {seconds:.2f} s; at least {CLIP_MIN_SECONDS:.0f} s of speech is needed (10-30 s is best)")
    if seconds > CLIP_MAX_SECONDS:
        raise BadInput(f"reference clip {where} is {seconds:.0f} s; at most {CLIP_MAX_SECONDS:.0f} s is accepted (10-30 s is best)")


def check_voice_identity(voice: ClipVoice) -> None:
    """A voice is what its clips are: the identity a message states must be the one its clips and transcripts give.

    Otherwise any clip could be rendered, counted and promoted as another voice (and once that voice is
    trained, spoken with its Fish model). Each clip's bytes are then held to its sha256 when fetched.
    """
    expected = reference_hash([(clip.sha256, clip.transcript) for clip in voice.clips])
    if voice.reference_hash != expected:
        raise BadInput(
            f"the voice's reference_hash {voice.reference_hash} is not the identity of its clips ({expected}):"
            " compute it from the clips' sha256 and transcripts as docs/voice-identity.md describes"
        )
