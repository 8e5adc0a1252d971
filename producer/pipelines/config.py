"""The pipelines file (NARRATE_PIPELINES_FILE): what each scheduled pipeline watches or renders, where, and when.

    pipelines:
      - name: publisher-inbox          # [a-z0-9-]+, unique
        inbox: s3://books/inbox/       # every new object under it is rendered once
        out: s3://books/audio/         # outputs under <out>/<file stem>/
        voice: narrator                # or voice_id: …, or clip: s3://…/clip.wav with transcript: …
        preset: acx
        every: 60s                     # or cron: "*/5 * * * *" (with timezone:)
      - name: morning-bulletin
        recurring: s3://news/today.txt # rendered on every run
        out: s3://news/audio/{date}/   # {date} {time} {name} expand per run
        voice_id: 802e3bc2b27e49c2995d23ef70e6ac89
        cron: "0 6 * * *"
        timezone: Europe/Berlin

Errors name the line of the file they are about.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from producer.pipelines.cron import can_fire, cron_fields
from producer.submit.grant import folder
from worker.contract import ModelVoice
from worker.errors import BadInput
from worker.settings import get_settings
from worker.webhooks.submitted import check_notify_url

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_PLACEHOLDERS = {"date", "time", "name"}


class Pipeline(BaseModel):
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
    lexicon: list[str] = Field(
        default_factory=list
    )  # s3:// URLs of pronunciation lexicons, for everything this pipeline renders
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
        if sum(v is not None for v in (self.voice, self.voice_id, self.clip)) != 1:
            raise ValueError(
                "set exactly one voice: `voice` (a registered NAME), `voice_id` or `clip` with `transcript`"
            )
        if (self.clip is None) != (self.transcript is None):
            raise ValueError("`clip` and `transcript` go together: the clip's exact words are needed to clone it")
        if self.inbox is not None and self.inbox.rstrip("/").count("/") < 3:
            raise ValueError(
                "`inbox` is a whole bucket; name a folder in it (s3://bucket/inbox/): processed/ and failed/ go beside it"
            )
        if self.inbox is not None and (self.out.rstrip("/") + "/").startswith(
            self.inbox.rstrip("/") + "/"
        ):  # folders, not names
            raise ValueError("`out` lies inside `inbox`: outputs would be picked up as new files; put them elsewhere")
        return self


class PipelinesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pipelines: list[Pipeline] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_names(self) -> PipelinesFile:
        seen: set[str] = set()
        for pipeline in self.pipelines:
            if pipeline.name in seen:
                raise ValueError(f"two pipelines are named {pipeline.name!r}; names must be unique")
            seen.add(pipeline.name)
        return self


def read_pipelines(path: Path) -> PipelinesFile:
    """The file's pipelines; BadInput names the line and says what to change."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise BadInput(
            f"{path}: cannot be read ({exc.__class__.__name__}): give the path of a UTF-8 YAML file"
        ) from None
    try:
        node = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}: line {mark.line + 1}" if mark else str(path)
        raise BadInput(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    try:
        found = PipelinesFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = tuple(error["loc"])
        field = ".".join(str(p) for p in loc) or "the file"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise BadInput(f"{path}: line {_line_of(node, loc)}: {field}: {message}") from None
    for index, pipeline in enumerate(found.pipelines):
        problem = _webhook_refused(pipeline, index=index)
        if problem:
            raise BadInput(f"{path}: line {_line_of(node, ('pipelines', index, 'notify'))}: {problem}")
    return found


def _webhook_refused(pipeline: Pipeline, *, index: int) -> str | None:
    """Why the pipeline's `notify` may not be called (a private address, no signing secret), or None."""
    try:
        check_notify_url(pipeline.notify, settings=get_settings(), option=f"pipelines.{index}.notify")
    except BadInput as exc:
        return str(exc)
    return None


def read_pipelines_each(path: Path) -> tuple[list[Pipeline], list[str]]:
    """What the service runs: every valid pipeline of the file, and an error (with its line) for each one refused.

    One pipeline's mistake (a cron that never fires, a bad URL) stops that one only;
    a file that is not YAML, or has no `pipelines` list, raises BadInput.
    """
    try:
        text = path.read_text(encoding="utf-8")
        node, data = yaml.compose(text), yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        read_pipelines(path)  # a file wrong as a whole: its message, with the line
        raise
    entries = data.get("pipelines") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        read_pipelines(path)
        raise BadInput(f"{path}: expected a `pipelines:` list of at least one pipeline")
    found: list[Pipeline] = []
    refused: list[str] = []
    for index, raw in enumerate(entries):
        try:
            pipeline = Pipeline.model_validate(raw)
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = ("pipelines", index, *error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            refused.append(f"{path}: line {_line_of(node, loc)}: {'.'.join(map(str, loc))}: {message}")
            continue
        if any(p.name == pipeline.name for p in found):
            refused.append(
                f"{path}: line {_line_of(node, ('pipelines', index))}: two pipelines are named {pipeline.name!r}; names must be unique"
            )
            continue
        if problem := _webhook_refused(pipeline, index=index):
            refused.append(f"{path}: line {_line_of(node, ('pipelines', index, 'notify'))}: {problem}")
            continue
        found.append(pipeline)
    return found, refused


def _seconds(value: str) -> float:
    match = _DURATION.match(value)
    if not match or float(match[1]) <= 0:
        raise ValueError(f"{value!r} is not a duration; write e.g. 30s, 5m, 2h or 1d")
    return float(match[1]) * _UNIT_SECONDS[match[2]]


def _line_of(node: Any, loc: tuple[Any, ...]) -> int:
    """The 1-based line of the YAML node at `loc` (as deep as it exists), for messages."""
    line = node.start_mark.line if node is not None else 0
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            node = None
        if node is None:
            break
        line = node.start_mark.line
    return line + 1
