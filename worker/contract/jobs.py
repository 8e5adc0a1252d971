"""The job message: what a producer puts on the queue for `narrate.render` (its JSON Schema: `narrate schema`).

Messages carry keys, hashes and text, never audio bytes: reference clips and
lexicon files are uploaded once and named by their sha256 (claim check).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_validator, model_serializer

from worker.contract.identity import HEX64
from worker.contract.locations import check_bucket, check_prefix

SCHEMA_VERSION = 1

OutputFormat = Literal["mp3", "wav", "opus"]
VoiceMode = Literal["one_shot", "reference_id"]


class Strict(BaseModel):
    """Every wire model: unknown fields refused, values frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Clip(Strict):
    """One reference clip, uploaded once by the producer (claim check)."""

    bucket: str | None = Field(None, description="Bucket holding the clip; default: the output bucket.")
    key: str = Field(description="Object key of the clip in the job's bucket: refs/<sha256>.<ext>.")
    sha256: str = Field(pattern=HEX64, description="sha256 of the clip's bytes.")
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


class LexiconRef(Strict):
    """A pronunciation lexicon file, uploaded once by the producer (claim check) and applied before chunking."""

    bucket: str | None = Field(None, description="Bucket holding the file; default: the output bucket.")
    key: str = Field(pattern=r"^lexicons/[0-9a-f]{64}\.(pls|xml|yaml|yml|csv)$", description="lexicons/<sha256>.<ext>.")
    sha256: str = Field(pattern=HEX64, description="sha256 of the file's bytes.")
    name: str = Field(min_length=1, max_length=200, description="The file's name, for messages and manifests.")

    @field_validator("bucket")
    @classmethod
    def _lexicon_bucket_ok(cls, bucket: str | None) -> str | None:
        return None if bucket is None else check_bucket(bucket)


class ClipVoice(Strict):
    """Clone from reference clips (one-shot) until the reference is promoted."""

    mode: Literal["clips"] = "clips"
    reference_hash: str = Field(pattern=HEX64, description="Identity of the clips and transcripts.")
    clips: list[Clip] = Field(min_length=1, max_length=16)


class ModelVoice(Strict):
    """An existing Fish voice: only its id is sent, never counted or promoted."""

    mode: Literal["model"] = "model"
    reference_id: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")


Voice = Annotated[ClipVoice | ModelVoice, Field(discriminator="mode")]


class Synthesis(Strict):
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


class Output(Strict):
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


class Notify(Strict):
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


QcMode = Literal["off", "report", "retake"]


class QualityCheck(Strict):
    """Proof-listening asked of a job or a book: every take heard back and judged against its text."""

    mode: QcMode = Field(
        "off",
        description="off: nothing heard; report: every take heard and judged; retake: a failed take rendered again.",
    )
    retakes: int = Field(2, ge=0, le=5, description="Takes rendered again at most per chunk (retake mode).")
    language: str = Field(
        "",
        max_length=16,
        pattern=r"^([a-z]{2,3}([-_][A-Za-z0-9]{2,8})*)?$",
        description="The text's language for the recognizer and for numbers said as words; empty: detected, English.",
    )


class RenderJob(Strict):
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
    qc: QualityCheck | None = Field(None, description="Proof-listening; absent: off.")

    @model_serializer(mode="wrap")
    def _absent_options_left_out(self, handler: SerializerFunctionWrapHandler) -> dict:
        # A job without webhooks or proof-listening is sent as before: workers that predate the fields accept it.
        data = handler(self)
        for name in ("notify", "qc"):
            if getattr(self, name) is None:
                data.pop(name, None)
        return data

    @field_validator("text")
    @classmethod
    def _text_has_words(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("the text is empty or only whitespace")
        return text


def job_schema() -> dict:
    """JSON Schema of the `narrate.render` message body."""
    return RenderJob.model_json_schema()
