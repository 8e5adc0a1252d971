"""Reference clips as a submitter gives them: checked, hashed, uploaded once, described in a job."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from worker import keys
from worker.audio import codec
from worker.contract import (
    Clip,
    ClipVoice,
    LexiconRef,
    ModelVoice,
    normalize_transcript,
    reference_hash,
)
from worker.errors import BadInput
from worker.storage import Storage
from worker.voices.clips import CLIP_MAX_SECONDS, CLIP_MIN_SECONDS
from worker.voices.registry import ClipRef

# Fish guidance: 10-30 s of clean speech; the hard limits are the worker's own.
CLIP_ADVISED_SECONDS = (10.0, 30.0)
CLIP_MAX_BYTES = 50 * 1024 * 1024
# Speech runs at about 2-3 words a second. Outside these bounds the transcript is very likely not the
# clip's (wrong file, or a paragraph for a greeting); the low bound leaves room for pauses and silence.
TRANSCRIPT_WORDS_PER_SECOND = (0.2, 6.0)


@dataclass(frozen=True)
class ClipInput:
    path: Path
    transcript: str


@dataclass(frozen=True)
class PreparedClip:
    data: bytes
    sha256: str
    extension: str
    transcript: str
    duration_seconds: float


@dataclass(frozen=True)
class PreparedVoice:
    """Reference clips read and checked, ready to upload; `warnings` are for the user."""

    clips: list[PreparedClip]
    reference_hash: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NamedVoice:
    """Clips registered once under a name (`narrate voices add`), already in S3."""

    name: str
    reference_hash: str
    clips: list[ClipRef]
    lexicons: tuple[LexiconRef, ...] = ()  # attached by `narrate voices update NAME --lexicon`: they apply first


def prepare_clip_voice(inputs: list[ClipInput]) -> PreparedVoice:
    clips: list[PreparedClip] = []
    warnings: list[str] = []
    for item in inputs:
        clip, clip_warnings = _prepare_clip(item)
        clips.append(clip)
        warnings.extend(clip_warnings)
    return PreparedVoice(
        clips=clips,
        reference_hash=reference_hash([(c.sha256, c.transcript) for c in clips]),
        warnings=warnings,
    )


def _prepare_clip(item: ClipInput) -> tuple[PreparedClip, list[str]]:
    path = item.path
    transcript = normalize_transcript(item.transcript)
    if not transcript:
        raise BadInput(f"{path}: the transcript is empty; pass the exact words the clip says (--transcript)")
    if not path.is_file():
        raise BadInput(f"{path}: reference clip not found")
    if path.stat().st_size > CLIP_MAX_BYTES:
        raise BadInput(f"{path}: reference clip is over {CLIP_MAX_BYTES // 2**20} MiB; use 10-30 s of speech")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        info = codec.probe(data)
    except BadInput as exc:
        raise BadInput(f"{path}: the reference clip is not usable audio: {exc}") from exc
    seconds = info.duration_seconds
    if seconds < CLIP_MIN_SECONDS:
        raise BadInput(
            f"{path}: the reference clip is {seconds:.2f} s;"
            f" at least {CLIP_MIN_SECONDS:.0f} s of speech is needed (10-30 s is best)"
        )
    if seconds > CLIP_MAX_SECONDS:
        raise BadInput(
            f"{path}: the reference clip is {seconds:.0f} s;"
            f" at most {CLIP_MAX_SECONDS:.0f} s is accepted (10-30 s is best)"
        )
    warnings = []
    low, high = CLIP_ADVISED_SECONDS
    if seconds < low:
        warnings.append(
            f"{path.name}: the reference clip is {seconds:.1f} s;"
            " Fish advises 10-30 s: shorter clips clone the voice less faithfully"
        )
    elif seconds > high:
        warnings.append(
            f"{path.name}: the reference clip is {seconds:.1f} s;"
            " Fish advises 10-30 s: longer clips add bytes to every request without a better clone"
        )
    rate_warning = _transcript_rate_warning(path, transcript, seconds)
    if rate_warning:
        warnings.append(rate_warning)
    extension = (path.suffix.lstrip(".").lower() or "audio")[:8]
    clip = PreparedClip(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        extension=extension,
        transcript=transcript,
        duration_seconds=seconds,
    )
    return clip, warnings


def _spoken_words(transcript: str) -> float:
    """Words in a transcript; a Han or kana character counts as half a word (those scripts use no spaces)."""
    words = 0.0
    for token in transcript.split():
        ideographs = sum(
            1 for c in token if unicodedata.name(c, "").startswith(("CJK UNIFIED", "HIRAGANA", "KATAKANA"))
        )
        words += ideographs / 2 if ideographs else 1
    return words


def _transcript_rate_warning(path: Path, transcript: str, seconds: float) -> str | None:
    words = _spoken_words(transcript)
    rate = words / seconds
    low, high = TRANSCRIPT_WORDS_PER_SECOND
    if low <= rate <= high:
        return None
    return (
        f"{path.name}: the transcript has {words:g} words for a {seconds:.1f} s clip ({rate:.2f} words/s, expected"
        f" {low:g}-{high:g}): it does not look like the exact words of this clip,"
        " and a mismatched transcript clones the voice badly"
    )


def job_voice_for(voice: PreparedVoice | NamedVoice | str, *, bucket: str) -> ClipVoice | ModelVoice:
    """The voice as a job message carries it: clip keys and hashes, or a Fish voice id."""
    try:
        if isinstance(voice, str):
            return ModelVoice(reference_id=voice)
        if isinstance(voice, NamedVoice):
            named = [
                Clip(
                    bucket=None if c.bucket == bucket else c.bucket,
                    key=c.key,
                    sha256=c.sha256,
                    size=c.size,
                    transcript=c.transcript,
                )
                for c in voice.clips
            ]
            return ClipVoice(reference_hash=voice.reference_hash, clips=named)
        clips = [
            Clip(
                key=keys.reference_clip(c.sha256, c.extension),
                sha256=c.sha256,
                size=len(c.data),
                transcript=c.transcript,
            )
            for c in voice.clips
        ]
        return ClipVoice(reference_hash=voice.reference_hash, clips=clips)
    except ValueError as exc:
        raise BadInput(f"invalid voice: {exc}") from exc


def upload_clips(storage: Storage, bucket: str, voice: PreparedVoice) -> list[ClipRef]:
    """Put each clip at its content address once; an object already there is not sent again."""
    refs = []
    for clip in voice.clips:
        key = keys.reference_clip(clip.sha256, clip.extension)
        if not storage.exists(bucket, key):
            storage.put(bucket, key, clip.data, content_type=_clip_content_type(clip.extension))
        refs.append(
            ClipRef(bucket=bucket, key=key, sha256=clip.sha256, size=len(clip.data), transcript=clip.transcript)
        )
    return refs


def _clip_content_type(extension: str) -> str:
    return {
        "wav": "audio/wav",
        "mp3": "audio/mpeg",
        "ogg": "audio/ogg",
        "opus": "audio/ogg",
        "flac": "audio/flac",
        "m4a": "audio/mp4",
    }.get(extension, "application/octet-stream")
