"""Who narrates a pipeline's file: the pipeline's voice, or what a sidecar beside the file says.

A sidecar `<stem>.voice.yaml` (or `voice.yaml` in the same folder) may set the
voice (`voice`, `voice_id`, or `clip` with `transcript`) and any book option;
it overrides the pipeline for that file only, inside the pipeline's grant: its
clip under `sources`, its voice among `voices`, its budget at most the
pipeline's, its webhook under `notify_allowed`. It is read in a child process
stopped at NARRATE_PARSE_SECONDS.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from pydantic import ValidationError

from producer.pipelines.bounded import within
from producer.pipelines.config import Pipeline
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.fetch import fetch_within
from producer.submit.grant import Grant
from producer.submit.jobs import parse_out
from producer.submit.references import local_name
from producer.submit.voices import VoiceBook
from worker.errors import BadInput
from worker.settings import get_settings
from worker.storage import Storage

VOICE_FIELDS = ("voice", "voice_id", "clip", "transcript")
SIDECAR_FIELDS = (*VOICE_FIELDS, "format", "preset", "chapters", "latency", "speed", "budget", "notify")


def is_sidecar(key: str) -> bool:
    name = PurePosixPath(key).name
    return name == "voice.yaml" or name.endswith(".voice.yaml")


def for_file(pipeline: Pipeline, bucket: str, key: str, *, storage: Storage, grant: Grant, seconds: float) -> Pipeline:
    """The pipeline as it applies to this file: its own settings, under the file's sidecar if there is one."""
    path = PurePosixPath(key)
    for candidate in (path.with_name(f"{path.stem}.voice.yaml"), path.with_name("voice.yaml")):
        raw = fetch_within(storage, bucket, str(candidate), limit=get_settings().fetch_max_bytes)
        if raw is not None:
            where = f"s3://{bucket}/{candidate}"
            return within(seconds, overridden, pipeline, raw, where=where, grant=grant, what=where)
    return pipeline


def overridden(pipeline: Pipeline, raw: bytes, *, where: str, grant: Grant) -> Pipeline:
    """The pipeline under the sidecar `raw`.

    Refused for anything in it outside `grant` (the pipeline's, not the sidecar's).
    """
    try:
        override = yaml.safe_load(raw) or {}
    except yaml.YAMLError as exc:
        raise BadInput(f"{where}: not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(override, dict):
        raise BadInput(f"{where}: expected a mapping such as `voice: narrator`")
    unknown = sorted(set(override) - set(SIDECAR_FIELDS), key=str)
    if unknown:
        raise BadInput(f"{where}: {unknown[0]!r} cannot be set per file; a sidecar sets {', '.join(SIDECAR_FIELDS)}")
    override = _within_grant(override, pipeline, where=where, grant=grant)
    base = pipeline.model_dump(exclude_none=True)
    if set(override) & set(VOICE_FIELDS):
        base = {k: v for k, v in base.items() if k not in VOICE_FIELDS}  # the sidecar's voice replaces the pipeline's
    try:
        return Pipeline.model_validate({**base, **override})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise BadInput(
            f"{where}: {'.'.join(map(str, error['loc'])) or 'voice'}: {str(error['msg']).removeprefix('Value error, ')}"
        ) from None


def _within_grant(override: dict[str, Any], pipeline: Pipeline, *, where: str, grant: Grant) -> dict[str, Any]:
    """The sidecar's settings, each reference checked as the pipeline would read it.

    A number is read as text, so it is checked as text.
    """
    checked = {
        k: str(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "budget" else v
        for k, v in override.items()
    }
    for field in ("voice", "voice_id"):
        if isinstance(checked.get(field), str):
            grant.check_voice(checked[field], where=f"{where}: `{field}`")
    if isinstance(checked.get("clip"), str):
        grant.check_read(checked["clip"], where=f"{where}: `clip`")
    # a budget that is not a number is left for the model to refuse
    if "budget" in checked and (checked["budget"] is None or _is_number(checked["budget"])):
        asked = None if checked["budget"] is None else float(checked["budget"])  # as the pipeline's model will read it
        checked["budget"] = grant.check_budget(asked, where=f"{where}: `budget`")
    if checked.get("notify") is None:
        checked.pop("notify", None)  # the operator's webhook stays
    elif isinstance(checked["notify"], str) and checked["notify"] != pipeline.notify:
        grant.check_notify(checked["notify"], where=f"{where}: `notify`")
    return checked


def _is_number(value: object) -> bool:
    try:
        float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return False
    return True


def voice_of(
    pipeline: Pipeline, *, voices: VoiceBook, storage: Storage, prepared: dict[tuple[str, str, str], Any] | None = None
) -> Any:
    """A Fish voice id, a named voice, or a clip prepared for one-shot cloning.

    `prepared` keeps clips already probed, by URL, transcript and content, so a scan
    of many files prepares each clip once and an edited clip is prepared again.
    """
    if pipeline.voice_id:
        return pipeline.voice_id
    if pipeline.voice:
        named = voices.named(pipeline.voice)
        if named is None:
            raise BadInput(
                f"pipeline {pipeline.name}: no voice named {pipeline.voice!r}; add it with `narrate voices add`"
            )
        return named
    bucket, key = parse_out(pipeline.clip or "")
    data = fetch_within(storage, bucket, key, limit=get_settings().fetch_max_bytes)
    if data is None:
        raise BadInput(f"pipeline {pipeline.name}: the clip {pipeline.clip} does not exist; upload it or fix `clip`")
    cache = {} if prepared is None else prepared
    known = (pipeline.clip or "", pipeline.transcript or "", hashlib.sha256(data).hexdigest())
    if known not in cache:
        with tempfile.TemporaryDirectory(prefix="narrate-clip-") as folder:
            path = Path(folder) / local_name(key)
            path.write_bytes(data)
            cache[known] = prepare_clip_voice([ClipInput(path, pipeline.transcript or "")])
    return cache[known]
