"""Batch files: many books (or chapters) and plain narration jobs, each with its own voice, output and format.

An entry with `file` is a book; an entry with `text` is one plain narration job (what
`narrate submit file.txt` makes). Two formats, one entry per book or job:

    # books.jsonl: one JSON object per line; blank lines and "#" comments are ignored
    {"file": "moby.epub", "out": "s3://audio/moby", "voice": "ishmael.wav", "transcript": "Call me Ishmael."}
    {"text": "Chapter one is out now.", "out": "s3://audio/news", "voice_id": "7f92f8af"}

    # books.yaml: a list of mappings, or a mapping whose `books:` key holds that list
    books:
      - {file: dracula.md, out: "s3://audio/dracula", voice_id: 7f92f8af, format: opus}

Relative paths (`file`, `transcript_file`, and `voice` when it names a clip
next to the batch file) are resolved against the batch file's folder, so a
batch file works from any current directory. What an entry may hold, and how
each field is checked: batch_entry.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import yaml
from pydantic import ValidationError

from producer.readers.batch_entry import BatchEntry, VoiceKey
from producer.readers.books import decode_text
from worker.errors import BadInput

BATCH_SUFFIXES: tuple[str, ...] = (".jsonl", ".yaml", ".yml")

# BatchEntry and VoiceKey are defined in batch_entry.py; named here too, for readers of batch files.
__all__ = ["BATCH_SUFFIXES", "BatchEntry", "PlacedEntry", "VoiceKey", "batch_items", "read_batch", "read_placed_batch"]

_EXAMPLE = '{"file": "book.epub", "out": "s3://bucket/prefix", "voice": "NAME"}'
_JOB_EXAMPLE = '{"text": "Words to narrate.", "out": "s3://bucket/prefix", "voice": "NAME"}'


class PlacedEntry(NamedTuple):
    """An entry with where it was found, so later errors (a voice, a bucket) can name it."""

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
