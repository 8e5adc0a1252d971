"""Batch files: many books (or chapters) and plain narration jobs, each with its own voice, output and format.

An entry with `file` is a book; an entry with `text` is one plain narration job (what
`narrate submit file.txt` makes). Two formats, one entry per book or job:

    # books.jsonl: one JSON object per line; blank lines and "#" comments are ignored
    {"file": "moby.epub", "out": "s3://audio/moby", "voice": "ishmael.wav", "transcript": "Call me Ishmael."}
    {"text": "Chapter one is out now.", "out": "s3://audio/news", "voice": "ishmael.wav", "transcript": "Call me Ishmael."}

    # books.yaml: a list of mappings, or a mapping whose `books:` key holds that list
    books:
      - {file: dracula.md, out: "s3://audio/dracula", voice_id: 7f92f8af, format: opus}

Relative paths (`file`, `transcript_file`, and `voice` when it names a clip
next to the batch file) are resolved against the batch file's folder, so a
batch file works from any current directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, NamedTuple

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

from producer.readers.books import decode_text
from worker.contract import ModelVoice
from worker.errors import BadInput
from worker.jobs.validate import check_text_characters

BATCH_SUFFIXES: tuple[str, ...] = (".jsonl", ".yaml", ".yml")

_EXAMPLE = '{"file": "book.epub", "out": "s3://bucket/prefix", "voice": "NAME"}'
_JOB_EXAMPLE = '{"text": "Words to narrate.", "out": "s3://bucket/prefix", "voice": "NAME"}'

VoiceKey = tuple[str | None, str | None, Path | None, str | None]


class BatchEntry(BaseModel):
    """One book (`file`) or one plain narration job (`text`). Read with `read_batch` to get paths resolved and checked."""

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
    lexicon: list[Path] = Field(
        default_factory=list
    )  # pronunciation lexicons (one path or a list), after the command line's

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
                f"the text is {size} bytes, over the limit of {limit} (NARRATE_MAX_TEXT_BYTES): split it into several entries"
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


class PlacedEntry(NamedTuple):
    where: str  # "books.jsonl: line 3", for messages about the entry
    entry: BatchEntry


def read_batch(path: str, *, max_text_bytes: int | None = None) -> list[BatchEntry]:
    """Every entry of the batch file, checked; BadInput naming the line or entry and the field at fault.

    `max_text_bytes` (NARRATE_MAX_TEXT_BYTES) bounds a job's `text`; a job without `title`
    is titled after its place, e.g. "news.jsonl:3".
    """
    return [placed.entry for placed in read_placed_batch(path, max_text_bytes=max_text_bytes)]


def read_placed_batch(path: str, *, max_text_bytes: int | None = None) -> list[PlacedEntry]:
    """`read_batch`, each entry with where it was found, so later errors (a voice, a bucket) can name it."""
    file = Path(path)
    if not file.exists():
        raise BadInput(f"{path}: no such file; check the path")
    if file.is_dir():
        raise BadInput(f"{path}: is a directory; pass a batch file ({', '.join(BATCH_SUFFIXES)})")
    suffix = file.suffix.lower()
    if suffix not in BATCH_SUFFIXES:
        raise BadInput(f"{path}: unsupported batch file type {suffix!r}; use one of {', '.join(BATCH_SUFFIXES)}")
    try:
        text = decode_text(file.read_bytes(), file.name)
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    unit, items = batch_items(text, file.name)
    if not items:
        raise BadInput(
            f"{file.name}: the batch file lists no books or jobs; add one entry per book, e.g. {_EXAMPLE},"
            f" or per narration job, e.g. {_JOB_EXAMPLE}"
        )
    # One context for the whole batch file: validators keep lookups there that entries share.
    context = {"folder": file.resolve().parent, "max_text_bytes": max_text_bytes}
    return [_placed(data, file.name, unit, number, context=context) for number, data in items]


def _placed(data: Any, name: str, unit: str, number: int, *, context: dict[str, Any]) -> PlacedEntry:
    where = f"{name}: {unit} {number}"
    entry = _entry(data, where, context=context)
    if entry.is_job and entry.title is None:
        entry.title = f"{name}:{number}"  # a job's title says where its text came from
    return PlacedEntry(where, entry)


def batch_items(text: str, name: str) -> tuple[str, list[tuple[int, Any]]]:
    """The raw entries of a batch file's text, each with its number, and what the number counts ("line" or "entry")."""
    if name.lower().endswith(".jsonl"):
        return "line", _jsonl_items(text, name)
    return "entry", _yaml_items(text, name)


def _jsonl_items(text: str, name: str) -> list[tuple[int, Any]]:
    items: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            items.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"{name}: line {number}: invalid JSON ({exc.msg} at column {exc.colno});"
                f" write one JSON object per line, e.g. {_EXAMPLE}"
            ) from exc
    return items


def _yaml_items(text: str, name: str) -> list[tuple[int, Any]]:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise BadInput(f"{name}: invalid YAML{where}: {getattr(exc, 'problem', exc)}; fix the syntax") from exc
    if isinstance(data, dict):
        if set(data) != {"books"}:
            unknown = ", ".join(str(key) for key in data if key != "books") or "no `books` key"
            raise BadInput(f"{name}: a mapping at the top must hold only `books:` (a list of entries); found {unknown}")
        data = data["books"]
    if data is None:
        return []
    if not isinstance(data, list):
        raise BadInput(
            f"{name}: expected a list of entries (`- file: ...` or `- text: ...`) or `books:` holding that list"
        )
    return list(enumerate(data, 1))


def _entry(data: Any, where: str, *, context: dict[str, Any]) -> BatchEntry:
    if not isinstance(data, dict):
        raise BadInput(
            f"{where}: expected a mapping of fields, got {type(data).__name__}; e.g. {_EXAMPLE} or {_JOB_EXAMPLE}"
        )
    try:
        return BatchEntry.model_validate(data, context=context)
    except ValidationError as exc:
        raise BadInput(f"{where}: " + "; ".join(_explain(error) for error in exc.errors())) from exc


def _explain(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(BatchEntry.model_fields)
        return f"unknown field `{field}`; the fields are {allowed}"
    if kind == "missing":
        return f"missing `{field}`; add it"
    if kind == "literal_error":
        return f"`{field}` is {error['input']!r}; use one of {error['ctx']['expected']}"
    cause = error.get("ctx", {}).get("error")  # the checks above already say how to fix
    message = str(cause) if isinstance(cause, ValueError) else f"{error['msg']} (got {error['input']!r:.60}); fix it"
    return f"`{field}`: {message}" if field else message
