"""One pipeline of the pipelines file: its fields, and every check a pipeline must pass to be run.

What its files may name (`sources`, `outputs`, `voices`, `notify_allowed`) is
turned into a grant by boundary.py; the file itself is read by config.py.
"""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from producer.pipelines.cron import can_fire, cron_fields
from producer.readers.quality import QcChoice
from producer.submit.grant import folder
from worker.contract import ModelVoice

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_PLACEHOLDERS = {"date", "time", "name"}


class Pipeline(BaseModel):
    """An inbox watched, or an object rendered on a schedule: with its voice, output, limits and grant."""

    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    name: str = Field(pattern=r"^[a-z0-9-]+$", max_length=64)
    inbox: str | None = None
    recurring: str | None = None
    out: str
    voice: str | None = Field(default=None, min_length=1)  # a registered voice NAME
    voice_id: str | None = None
    clip: str | None = None  # s3://bucket/key of a reference clip, with its exact `transcript`
    transcript: str | None = None
    every: str | None = None
    cron: str | None = None
    timezone: str = "UTC"
    format: Literal["mp3", "wav", "opus"] = "mp3"
    preset: Literal["standard", "acx"] | None = None
    chapters: str | None = None
    latency: Literal["normal", "balanced"] | None = None
    speed: float | None = Field(default=None, ge=0.5, le=2.0)
    # s3:// URLs of pronunciation lexicons, for everything this pipeline renders
    lexicon: list[str] = Field(default_factory=list)
    # proof-listening of what it renders: off, report or retake, or {mode, retakes, language}; a batch entry's own wins
    qc: QcChoice | None = None
    read_along: bool = False  # books: also readalong.epub, the text highlighted as it is heard
    budget: float | None = Field(default=None, gt=0)  # USD per file: a file estimated above it is not rendered
    budget_per_day: float | None = Field(default=None, gt=0)  # USD per pipeline and day
    notify: str | None = None
    max_new_per_scan: int = Field(default=50, ge=1, le=10_000)
    # What its files may name (boundary.py); the defaults: the inbox and `out`, `out`, its own voice, none
    sources: list[str] | None = None  # S3 folders batch files and sidecars may read
    outputs: list[str] | None = None  # S3 folders batch files may write to
    voices: list[str] | None = None  # named voices and Fish voice ids batch files and sidecars may use
    notify_allowed: list[str] = Field(default_factory=list)  # webhook URL prefixes a sidecar may set as `notify`

    @property
    def kind(self) -> Literal["inbox", "recurring"]:
        return "inbox" if self.inbox is not None else "recurring"

    @property
    def every_seconds(self) -> float | None:
        return _seconds(self.every) if self.every is not None else None

    @field_validator("inbox", "recurring", "out", "clip")
    @classmethod
    def _s3_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/|$)", value):
            raise ValueError(f"{value!r} is not an S3 URL; write it as s3://bucket/prefix")
        return value

    @field_validator("lexicon", mode="before")
    @classmethod
    def _lexicon_urls(cls, value: object) -> object:
        urls = [value] if isinstance(value, str) else value
        for url in urls if isinstance(urls, list) else []:
            cls._s3_url(url)
        return urls

    @field_validator("sources", "outputs", "voices", "notify_allowed", mode="before")
    @classmethod
    def _one_or_more(cls, value: object, info: ValidationInfo) -> object:
        values = [value] if isinstance(value, str) else value
        for item in values if isinstance(values, list) and info.field_name != "voices" else []:
            if info.field_name == "notify_allowed" and not re.match(r"^https?://[^/?#@]+", str(item)):
                raise ValueError(f"{item!r} is not a webhook URL prefix; write it as https://host/path")
            if info.field_name in ("sources", "outputs") and isinstance(item, str):
                folder(item)  # ValueError says what is wrong
        return values

    @field_validator("out")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        unknown = set(re.findall(r"\{([^}]*)\}", value)) - _PLACEHOLDERS
        if unknown:
            raise ValueError(f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{date}}, {{time}} or {{name}}")
        return value

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None:
            _seconds(value)
        return value

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str | None) -> str | None:
        if value is None:
            return value
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f'{value!r} is not a cron schedule: five fields, minute hour day month weekday, e.g. "*/5 * * * *"'
            )
        cron_fields(value)
        can_fire(value)
        return value

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone; use a name like Europe/Berlin or UTC") from None
        return value

    @field_validator("voice_id")
    @classmethod
    def _fish_voice_id(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ModelVoice(reference_id=value)
            except ValidationError as exc:
                raise ValueError(f"{value[:60]!r} is not a Fish voice id ({exc.errors()[0]['msg'].lower()})") from None
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Pipeline:
        if (self.inbox is None) == (self.recurring is None):
            raise ValueError(
                "set exactly one of `inbox` (a prefix to watch) or `recurring` (an object rendered on schedule)"
            )
        if (self.every is None) == (self.cron is None):
            raise ValueError('set exactly one of `every` (e.g. 60s, 5m) or `cron` (e.g. "0 6 * * *")')
        if self.read_along and self.format != "mp3" and self.preset != "acx":
            raise ValueError(
                "`read_along` puts the chapters in the EPUB, where readers play MP3:"
                f" set `format: mp3`, not {self.format}"
            )
        if sum(v is not None for v in (self.voice, self.voice_id, self.clip)) != 1:
            raise ValueError(
                "set exactly one voice: `voice` (a registered NAME), `voice_id` or `clip` with `transcript`"
            )
        if (self.clip is None) != (self.transcript is None):
            raise ValueError("`clip` and `transcript` go together: the clip's exact words are needed to clone it")
        if self.inbox is not None and self.inbox.rstrip("/").count("/") < 3:
            raise ValueError(
                "`inbox` is a whole bucket; name a folder in it (s3://bucket/inbox/):"
                " processed/ and failed/ go beside it"
            )
        # compared as folders, not names: s3://b/inbox-out/ is not inside s3://b/inbox/
        if self.inbox is not None and (self.out.rstrip("/") + "/").startswith(self.inbox.rstrip("/") + "/"):
            raise ValueError("`out` lies inside `inbox`: outputs would be picked up as new files; put them elsewhere")
        return self


def _seconds(value: str) -> float:
    match = _DURATION.match(value)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 2h or 1d")
    return float(match[1]) * _UNIT_SECONDS[match[2]]
