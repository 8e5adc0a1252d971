"""The output manifest: written beside a job's audio, last, so its presence means the output is complete."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from worker.contract.jobs import SCHEMA_VERSION, OutputFormat, Strict, VoiceMode


class RequestRecord(Strict):
    """One Fish TTS request made for a job."""

    chunk: int
    text_bytes: int
    mode: VoiceMode
    reference_bytes_sent: int
    latency_seconds: float
    cached: bool = False
    lexicon: list[str] = Field(default_factory=list, description="The lexicon entries applied in this chunk's text.")


class OutputRecord(Strict):
    url: str
    key: str
    format: OutputFormat
    content_type: str
    duration_seconds: float
    size_bytes: int


class Manifest(Strict):
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
    qc: dict[str, Any] | None = Field(
        None,
        description="Proof-listening: mode, chunks and takes heard, retakes, and every chunk left failing with its"
        " seconds in the audio file, its text, what was heard and the faults; absent: not heard.",
    )
