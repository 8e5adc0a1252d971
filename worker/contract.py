"""The wire contract: what producers put on the queue and what workers leave in S3.

Any Celery client may enqueue `narrate.render` with `kwargs={"job": <RenderJob JSON>}`
(or the job as the single positional argument); `narrate schema` prints the JSON
Schema. Messages carry keys, hashes and text, never audio bytes.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

SCHEMA_VERSION = 1
RENDER_TASK = "narrate.render"
PROMOTE_TASK = "narrate.promote"  # args: [reference_hash]
CREDIT_CHECK_TASK = "narrate.credit_check"
# The audiobook steps (worker/books/tasks.py)
BOOK_CHUNK_TASK = "narrate.book.chunk"
BOOK_CHAPTER_TASK = "narrate.book.chapter"
BOOK_ASSEMBLE_TASK = "narrate.book.assemble"
BOOK_NOTIFY_TASK = "narrate.book.notify"
BOOK_RECONCILE_TASK = "narrate.book.reconcile"
JOB_SWEEP_TASK = "narrate.jobs.sweep"
JOB_NOTIFY_TASK = "narrate.job.notify"  # args: [job_id]
BATCH_NOTIFY_TASK = "narrate.batch.notify"  # args: [batch_id]

OutputFormat = Literal["mp3", "wav", "opus"]
VoiceMode = Literal["one_shot", "reference_id"]

_HEX64 = r"^[0-9a-f]{64}$"
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# Stamped on every message as it is published: the queue-age metric reads it off the oldest waiting message.
SENT_AT_HEADER = "narrate_sent_at"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def normalize_transcript(text: str) -> str:
    """NFC, whitespace collapsed: the same words typed twice give one reference identity."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def reference_hash(clips: Iterable[tuple[str, str]]) -> str:
    """Identity of a voice reference from each clip's (sha256 hex of its bytes, transcript), in order.

    The one formula producers and workers share (docs/voice-identity.md): the worker recomputes it
    from the clips it fetched, so a message cannot borrow another voice's identity.
    """
    digest = hashlib.sha256(b"narrate-reference-v1\n")
    for sha256, transcript in clips:
        if not re.fullmatch(_HEX64, sha256):
            raise ValueError(f"{sha256!r} is not the lowercase hex sha256 of a clip's bytes")
        digest.update(sha256.encode("ascii"))
        digest.update(b"\n")
        digest.update(normalize_transcript(transcript).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def check_prefix(prefix: str) -> str:
    """An S3 key prefix that cannot escape, hide or confuse: returns it without surrounding slashes."""
    if _CONTROL.search(prefix):
        raise ValueError("the output prefix contains control characters")
    if "%" in prefix:
        raise ValueError("the output prefix contains '%': percent-encoding is not allowed")
    if prefix.startswith("/"):
        raise ValueError("the output prefix must be relative (no leading '/')")
    parts = prefix.strip("/").split("/") if prefix.strip("/") else []
    if any(part in ("..", ".") for part in parts):
        raise ValueError("the output prefix contains a '..' or '.' segment")
    if any(part == "" for part in parts):
        raise ValueError("the output prefix contains an empty segment ('//')")
    return "/".join(parts)


def check_bucket(bucket: str) -> str:
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            f"{bucket!r} is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-')"
        )
    return bucket


class Clip(_Strict):
    """One reference clip, uploaded once by the producer (claim check)."""

    bucket: str | None = Field(None, description="Bucket holding the clip; default: the output bucket.")
    key: str = Field(description="Object key of the clip in the job's bucket: refs/<sha256>.<ext>.")
    sha256: str = Field(pattern=_HEX64, description="sha256 of the clip's bytes.")
    size: int = Field(gt=0, description="Size of the clip in bytes.")
    transcript: str = Field(min_length=1, description="Exactly what the clip says, with punctuation.")

    @field_validator("key")
    @classmethod
    def _key_is_safe(cls, key: str) -> str:
        try:
            safe = check_prefix(key) == key
        except ValueError as exc:
            raise ValueError(str(exc).replace("the output prefix", "the clip key")) from None
        if not safe or not key.startswith("refs/"):
            raise ValueError("clip keys live under refs/ and must be plain relative keys")
        return key

    @field_validator("bucket")
    @classmethod
    def _clip_bucket_ok(cls, bucket: str | None) -> str | None:
        return None if bucket is None else check_bucket(bucket)

    @field_validator("transcript")
    @classmethod
    def _transcript_has_words(cls, transcript: str) -> str:
        if not transcript.strip():
            raise ValueError("the transcript is empty")
        return transcript


class LexiconRef(_Strict):
    """A pronunciation lexicon file, uploaded once by the producer (claim check) and applied before chunking."""

    bucket: str | None = Field(None, description="Bucket holding the file; default: the output bucket.")
    key: str = Field(pattern=r"^lexicons/[0-9a-f]{64}\.(pls|xml|yaml|yml|csv)$", description="lexicons/<sha256>.<ext>.")
    sha256: str = Field(pattern=_HEX64, description="sha256 of the file's bytes.")
    name: str = Field(min_length=1, max_length=200, description="The file's name, for messages and manifests.")

    @field_validator("bucket")
    @classmethod
    def _lexicon_bucket_ok(cls, bucket: str | None) -> str | None:
        return None if bucket is None else check_bucket(bucket)


class ClipVoice(_Strict):
    """Clone from reference clips (one-shot) until the reference is promoted."""

    mode: Literal["clips"] = "clips"
    reference_hash: str = Field(pattern=_HEX64, description="Identity of the clips and transcripts.")
    clips: list[Clip] = Field(min_length=1, max_length=16)


class ModelVoice(_Strict):
    """An existing Fish voice: only its id is sent, never counted or promoted."""

    mode: Literal["model"] = "model"
    reference_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


Voice = Annotated[ClipVoice | ModelVoice, Field(discriminator="mode")]


class Synthesis(_Strict):
    """Fish synthesis settings a request carries beyond text and voice; part of a chunk's content address.

    None leaves a setting to the API. Ranges are the API's own: a value outside is refused before anything is sent.
    """

    latency: Literal["normal", "balanced"] | None = Field(
        None, description="normal: the higher quality; balanced: faster."
    )
    speed: float | None = Field(None, ge=0.5, le=2.0, description="Speaking rate (prosody.speed), 1 is natural.")
    temperature: float | None = Field(None, ge=0.0, le=1.0, description="Randomness of the delivery.")
    top_p: float | None = Field(None, ge=0.0, le=1.0, description="Nucleus sampling of the delivery.")
    normalize: bool | None = Field(None, description="Fish normalizes numbers and the like before speaking.")
    sample_rate: Literal[8000, 16000, 24000, 32000, 44100] | None = Field(
        None, description="Hz asked of Fish for WAV chunks; None: the API's own (44.1 kHz)."
    )

    def merged(self, over: Synthesis) -> Synthesis:
        """These settings with every setting `over` sets taking precedence."""
        return self.model_copy(update=over.model_dump(exclude_none=True))

    def address(self) -> dict[str, object]:
        """What is set, for the content address: settings left unset keep the addresses they always had."""
        return self.model_dump(exclude_none=True)


class Output(_Strict):
    bucket: str
    prefix: str = Field("", description="Key prefix; outputs go to <prefix>/<job_id>.<format>.")
    format: OutputFormat = "mp3"

    @field_validator("bucket")
    @classmethod
    def _bucket_ok(cls, bucket: str) -> str:
        return check_bucket(bucket)

    @field_validator("prefix")
    @classmethod
    def _prefix_ok(cls, prefix: str) -> str:
        if check_prefix(prefix) != prefix:
            raise ValueError("the output prefix must have no leading or trailing '/'")
        return prefix


class Notify(_Strict):
    """Webhooks a job asks for: its own when it ends, and its batch's when every job of the batch has ended."""

    url: str | None = Field(
        None,
        max_length=2000,
        pattern=r"^https?://",
        description="POST a signed `job.finished` notice here when the job succeeds or fails for good.",
    )
    batch_id: str | None = Field(
        None,
        pattern=r"^[0-9a-f]{32}$",
        description="The batch (opened by the producer in Redis) whose `batch.finished` notice this job counts toward.",
    )


class RenderJob(_Strict):
    """One narration job: one text, one voice, one output."""

    schema_version: Literal[1] = Field(description="Wire-format version; workers refuse others.")
    job_id: str = Field(pattern=r"^[0-9a-f]{32}$", description="32 lowercase hex characters (uuid4().hex).")
    text: str = Field(min_length=1)
    voice: Voice
    output: Output
    title: str = Field("", max_length=300, description="A label for people (e.g. the source file name).")
    submitted_at: datetime
    synthesis: Synthesis = Field(
        default_factory=lambda: Synthesis(), description="Fish settings; unset ones are the API's."
    )
    lexicons: list[LexiconRef] = Field(
        default_factory=list,
        max_length=32,
        description="Applied to the text in order (a later file's entry wins) before it is chunked.",
    )
    notify: Notify | None = Field(None, description="Completion webhooks; absent: none.")

    @model_serializer(mode="wrap")
    def _absent_notify_left_out(self, handler: SerializerFunctionWrapHandler) -> dict:
        # A job without webhooks is sent as before: workers that predate the field accept it.
        data = handler(self)
        if self.notify is None:
            data.pop("notify", None)
        return data

    @field_validator("text")
    @classmethod
    def _text_has_words(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the text is empty or only whitespace")
        return text


class RequestRecord(_Strict):
    """One Fish TTS request made for a job."""

    chunk: int
    text_bytes: int
    mode: VoiceMode
    reference_bytes_sent: int
    latency_seconds: float
    cached: bool = False
    lexicon: list[str] = Field(default_factory=list, description="The lexicon entries applied in this chunk's text.")


class OutputRecord(_Strict):
    url: str
    key: str
    format: OutputFormat
    content_type: str
    duration_seconds: float
    size_bytes: int


class Manifest(_Strict):
    """Written beside the audio, last: its presence means the output is complete."""

    schema_version: Literal[1] = SCHEMA_VERSION
    job_id: str
    title: str
    text_sha256: str
    text_bytes_billed: int = Field(description="UTF-8 bytes of text sent to Fish (the billed unit).")
    voice_reference_hash: str | None
    voice_reference_id: str | None
    voice_mode: VoiceMode | Literal["mixed"]
    reference_bytes_sent: int
    fish_model: str
    fish_latency_seconds: float
    requests: list[RequestRecord]
    output: OutputRecord
    attempts: int
    submitted_at: datetime
    started_at: datetime
    finished_at: datetime


def job_schema() -> dict:
    """JSON Schema of the `narrate.render` message body."""
    return RenderJob.model_json_schema()
