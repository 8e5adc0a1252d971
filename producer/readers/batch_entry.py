"""One entry of a batch file: a book (`file`) or a plain narration job (`text`), with its voice, output and format.

Each field is checked as the worker and the Fish API would check it, so a bad
entry stops the batch file before anything of it is sent. Paths are resolved
against the batch file's folder when it is read (batch.py passes the folder in
the validation context); an entry built directly keeps its paths as given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from producer.readers.quality import QcChoice
from worker.contract import ModelVoice
from worker.errors import BadInput
from worker.jobs.validate import check_text_characters

VoiceKey = tuple[str | None, str | None, Path | None, str | None]


class BatchEntry(BaseModel):
    """One book (`file`) or one plain narration job (`text`); `read_batch` resolves its paths and checks them."""

    # Numbers are accepted where text is expected: YAML reads `title: 1984` as an int.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    file: Path | None = None
    text: str | None = None  # inline words: one narration job instead of a book
    out: str = Field(min_length=1)
    format: Literal["mp3", "wav", "opus"] = "mp3"
    voice: str | None = Field(default=None, min_length=1)  # a clip path or a registered voice NAME
    transcript: str | None = None
    transcript_file: Path | None = None
    voice_id: str | None = Field(default=None, min_length=1)
    title: str | None = Field(default=None, min_length=1)  # overrides the book's own title; a job's title
    preset: Literal["standard", "acx"] | None = None  # books: how the audio is made (None: NARRATE_PRESET)
    chapters: str | None = None  # books: e.g. "1-3,7", numbered as `narrate estimate` lists them
    include_front_matter: bool = False
    # Fish synthesis settings (checked when the entry is submitted): latency, speed, temperature, top_p, normalize
    latency: str | None = None
    speed: float | None = None
    temperature: float | None = None
    top_p: float | None = None
    normalize: bool | None = None
    # pronunciation lexicons (one path or a list), applied after the command line's
    lexicon: list[Path] = Field(default_factory=list)
    # proof-listening: off, report or retake, or {mode, retakes, language}; over the command line's
    qc: QcChoice | None = None
    # books: also readalong.epub, the text highlighted as it is heard (None: the command line's --read-along)
    read_along: bool | None = None

    def synthesis_values(self) -> dict[str, object]:
        return {
            "latency": self.latency,
            "speed": self.speed,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "normalize": self.normalize,
        }

    @property
    def is_job(self) -> bool:
        return self.text is not None

    @property
    def voice_key(self) -> VoiceKey:
        """Entries with equal keys share one voice, so a clip is prepared once per batch file, not once per entry."""
        return (self.voice, self.transcript, self.transcript_file, self.voice_id)

    @field_validator("out")
    @classmethod
    def _s3_url(cls, value: str) -> str:
        if not value.startswith("s3://"):
            raise ValueError(f"{value!r} is not an S3 URL; write it as s3://bucket/prefix")
        return value

    @field_validator("file", "transcript_file")
    @classmethod
    def _existing_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        folder = (info.context or {}).get("folder")
        if value is None or folder is None:
            return value
        resolved = folder / value.expanduser()
        if not resolved.is_file():
            problem = "is a directory, not a file" if resolved.is_dir() else "no such file"
            raise ValueError(f"{resolved}: {problem}; paths are relative to the batch file's folder")
        return resolved

    @field_validator("lexicon", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, Path)) else value

    @field_validator("lexicon")
    @classmethod
    def _existing_lexicons(cls, value: list[Path], info: ValidationInfo) -> list[Path]:
        return [cls._existing_file(path, info) or path for path in value]

    @field_validator("text")
    @classmethod
    def _narratable_text(cls, value: str | None, info: ValidationInfo) -> str | None:
        """What `Submitter.submit` and the worker would refuse, refused while reading, before anything is sent."""
        if value is None:
            return value
        if not value.strip():
            raise ValueError("the text is empty or only whitespace; write the words to narrate, or remove the entry")
        limit = (info.context or {}).get("max_text_bytes")
        size = len(value.encode("utf-8"))
        if limit is not None and size > limit:
            raise ValueError(
                f"the text is {size} bytes, over the limit of {limit} (NARRATE_MAX_TEXT_BYTES):"
                " split it into several entries"
            )
        try:
            check_text_characters(value, where="the text")
        except BadInput as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("voice")
    @classmethod
    def _clip_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        context = info.context or {}
        folder = context.get("folder")
        if value is None or folder is None:
            return value
        # Thousands of entries usually share a few voices: look each one up on disk once per batch file.
        seen = context.setdefault("clip_paths", {})
        if value not in seen:
            clip = folder / Path(value).expanduser()
            seen[value] = str(clip) if clip.is_file() else value  # otherwise a voice name
        return seen[value]

    @field_validator("voice_id")
    @classmethod
    def _fish_voice_id(cls, value: str | None) -> str | None:
        """Checked as a job message will carry it, so a bad id stops the batch file before any of it is sent."""
        if value is None:
            return value
        try:
            ModelVoice(reference_id=value)
        except ValidationError as exc:
            problem = exc.errors()[0]["msg"].lower()
            raise ValueError(
                f"{value[:60]!r} is not a Fish voice id ({problem}); copy the id from the voice's page on Fish Audio"
            ) from None
        return value

    @model_validator(mode="after")
    def _one_source(self) -> BatchEntry:
        if self.file is not None and self.text is not None:
            raise ValueError("both `file` and `text` are set; keep `file` for a book or `text` for one narration job")
        if self.file is None and self.text is None:
            raise ValueError(
                "nothing to narrate; add `file` (a book: .epub, .md or .txt) or `text` (the words of one narration job)"
            )
        return self

    @model_validator(mode="after")
    def _one_voice(self) -> BatchEntry:
        if self.voice is not None and self.voice_id is not None:
            raise ValueError("both `voice` and `voice_id` are set; keep one")
        if self.voice is None and self.voice_id is None:
            raise ValueError("no voice; add `voice` (a clip or a voice NAME) or `voice_id` (a Fish voice id)")
        if self.transcript is not None and self.transcript_file is not None:
            raise ValueError("both `transcript` and `transcript_file` are set; keep one")
        if self.voice is None and (self.transcript is not None or self.transcript_file is not None):
            raise ValueError(
                "`transcript`/`transcript_file` only go with a `voice` clip, not with `voice_id`; remove it"
            )
        return self
