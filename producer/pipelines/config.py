"""The pipelines file (NARRATE_PIPELINES_FILE): what each scheduled pipeline watches or renders, where, and when.

    pipelines:
      - name: publisher-inbox          # [a-z0-9-]+, unique
        inbox: s3://books/inbox/       # every new object under it is rendered once
        out: s3://books/audio/         # outputs under <out>/<file stem>/
        voice: narrator                # or voice_id: …, or clip: s3://…/clip.wav with transcript: …
        preset: acx
        qc: retake                     # proof-listening: off, report, retake, or {mode: retake, retakes: 3}
        read_along: true               # books: also readalong.epub (EPUB 3, text highlighted as it is heard)
        every: 60s                     # or cron: "*/5 * * * *" (with timezone:)
      - name: morning-bulletin
        recurring: s3://news/today.txt # rendered on every run
        out: s3://news/audio/{date}/   # {date} {time} {name} expand per run
        voice_id: 802e3bc2b27e49c2995d23ef70e6ac89
        cron: "0 6 * * *"
        timezone: Europe/Berlin

Errors name the line of the file they are about. One pipeline's fields and checks are in pipeline.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from producer.pipelines.pipeline import Pipeline
from worker.errors import BadInput
from worker.settings import get_settings
from worker.webhooks.submitted import check_notify_url

__all__ = ["Pipeline", "PipelinesFile", "read_pipelines", "read_pipelines_each"]


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
                f"{path}: line {_line_of(node, ('pipelines', index))}: two pipelines are named {pipeline.name!r};"
                " names must be unique"
            )
            continue
        if problem := _webhook_refused(pipeline, index=index):
            refused.append(f"{path}: line {_line_of(node, ('pipelines', index, 'notify'))}: {problem}")
            continue
        found.append(pipeline)
    return found, refused


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
