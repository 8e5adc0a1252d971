"""Manifests: many books (or chapters) to render, each with its own voice, output and format.

Two formats, one entry per book:

    # books.jsonl: one JSON object per line; blank lines and "#" comments are ignored
    {"file": "moby.epub", "out": "s3://audio/moby", "voice": "ishmael.wav", "transcript": "Call me Ishmael."}

    # books.yaml: a list of mappings, or a mapping whose `books:` key holds that list
    books:
      - {file: dracula.md, out: "s3://audio/dracula", voice_id: 7f92f8af, format: opus}

Relative paths (`file`, `transcript_file`, and `voice` when it names a clip
next to the manifest) are resolved against the manifest's folder, so a
manifest works from any current directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from producer.books import decode_text
from worker.errors import BadInput

MANIFEST_SUFFIXES: tuple[str, ...] = (".jsonl", ".yaml", ".yml")

_EXAMPLE = '{"file": "book.epub", "out": "s3://bucket/prefix", "voice": "NAME"}'


class ManifestEntry(BaseModel):
    """One book to render. Read with `read_manifest` to get paths resolved and checked."""

    # Numbers are accepted where text is expected: YAML reads `title: 1984` as an int.
    model_config = ConfigDict(extra="forbid", coerce_numbers_to_str=True)

    file: Path
    out: str = Field(min_length=1)
    format: Literal["mp3", "wav", "opus"] = "mp3"
    voice: str | None = Field(default=None, min_length=1)  # a clip path or a registered voice NAME
    transcript: str | None = None
    transcript_file: Path | None = None
    voice_id: str | None = Field(default=None, min_length=1)
    title: str | None = Field(default=None, min_length=1)  # overrides the book's own title

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
            raise ValueError(f"{resolved}: {problem}; paths are relative to the manifest's folder")
        return resolved

    @field_validator("voice")
    @classmethod
    def _clip_path(cls, value: str | None, info: ValidationInfo) -> str | None:
        folder = (info.context or {}).get("folder")
        if value is None or folder is None:
            return value
        clip = folder / Path(value).expanduser()
        return str(clip) if clip.is_file() else value  # otherwise a voice name

    @model_validator(mode="after")
    def _one_voice(self) -> ManifestEntry:
        if self.voice is not None and self.voice_id is not None:
            raise ValueError("both `voice` and `voice_id` are set; keep one")
        if self.voice is None and self.voice_id is None:
            raise ValueError("no voice; add `voice` (a clip or a voice NAME) or `voice_id` (a Fish voice id)")
        if self.transcript is not None and self.transcript_file is not None:
            raise ValueError("both `transcript` and `transcript_file` are set; keep one")
        if self.voice is None and (self.transcript is not None or self.transcript_file is not None):
            raise ValueError("`transcript`/`transcript_file` only go with a `voice` clip, not with `voice_id`; remove it")
        return self


def read_manifest(path: str) -> list[ManifestEntry]:
    """Every entry of the manifest, checked; BadInput naming the line or entry and the field at fault."""
    file = Path(path)
    if not file.exists():
        raise BadInput(f"{path}: no such file; check the path")
    if file.is_dir():
        raise BadInput(f"{path}: is a directory; pass a manifest file ({', '.join(MANIFEST_SUFFIXES)})")
    suffix = file.suffix.lower()
    if suffix not in MANIFEST_SUFFIXES:
        raise BadInput(f"{path}: unsupported manifest type {suffix!r}; use one of {', '.join(MANIFEST_SUFFIXES)}")
    try:
        text = decode_text(file.read_bytes(), file.name)
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror}); check its permissions") from exc
    items = _jsonl_items(text, file.name) if suffix == ".jsonl" else _yaml_items(text, file.name)
    if not items:
        raise BadInput(f"{file.name}: the manifest lists no books; add one entry per book, e.g. {_EXAMPLE}")
    folder = file.resolve().parent
    return [_entry(data, where, folder=folder) for where, data in items]


def _jsonl_items(text: str, name: str) -> list[tuple[str, Any]]:
    items: list[tuple[str, Any]] = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            items.append((f"{name}: line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            raise BadInput(
                f"{name}: line {number}: invalid JSON ({exc.msg} at column {exc.colno});"
                f" write one JSON object per line, e.g. {_EXAMPLE}"
            ) from exc
    return items


def _yaml_items(text: str, name: str) -> list[tuple[str, Any]]:
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
        raise BadInput(f"{name}: expected a list of entries (`- file: ...`) or `books:` holding that list")
    return [(f"{name}: entry {number}", item) for number, item in enumerate(data, 1)]


def _entry(data: Any, where: str, *, folder: Path) -> ManifestEntry:
    if not isinstance(data, dict):
        raise BadInput(f"{where}: expected a mapping of fields, got {type(data).__name__}; e.g. {_EXAMPLE}")
    try:
        return ManifestEntry.model_validate(data, context={"folder": folder})
    except ValidationError as exc:
        raise BadInput(f"{where}: " + "; ".join(_explain(error) for error in exc.errors())) from exc


def _explain(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"])
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = ", ".join(ManifestEntry.model_fields)
        return f"unknown field `{field}`; the fields are {allowed}"
    if kind == "missing":
        return f"missing `{field}`; add it"
    if kind == "literal_error":
        return f"`{field}` is {error['input']!r}; use one of {error['ctx']['expected']}"
    cause = error.get("ctx", {}).get("error")  # the checks above already say how to fix
    message = str(cause) if isinstance(cause, ValueError) else f"{error['msg']} (got {error['input']!r:.60}); fix it"
    return f"`{field}`: {message}" if field else message
