"""Checks on a voice's reference clips in the worker: usable audio, and a voice that is what its clips are.

Messages can come from any Celery client, so the worker checks again what the
producer checked, for single jobs and book chunks alike.
"""

from __future__ import annotations

from worker.audio import codec
from worker.contract import ClipVoice, reference_hash
from worker.errors import BadInput

# A reference under a second has no voice to clone; one over two minutes only makes every request heavy.
CLIP_MIN_SECONDS = 1.0
CLIP_MAX_SECONDS = 120.0


def check_clip(data: bytes, *, where: str) -> None:
    """A reference clip fetched from S3 must be audio of a usable length."""
    try:
        seconds = codec.probe(data).duration_seconds
    except BadInput as exc:
        raise BadInput(
            f"reference clip {where} is not usable audio: {exc}; upload a WAV/MP3/FLAC/OGG of 10-30 s of speech"
        ) from exc
    if seconds < CLIP_MIN_SECONDS:
        raise BadInput(
            f"reference clip {where} is {seconds:.2f} s; at least {CLIP_MIN_SECONDS:.0f} s of speech is needed"
            " (10-30 s is best)"
        )
    if seconds > CLIP_MAX_SECONDS:
        raise BadInput(
            f"reference clip {where} is {seconds:.0f} s; at most {CLIP_MAX_SECONDS:.0f} s is accepted (10-30 s is best)"
        )


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
