"""Reading a render message: the job it carries, or why it is refused."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from worker.contract import SCHEMA_VERSION, RenderJob
from worker.errors import InvalidJob
from worker.jobs.validate import check_message_size


def job_of(args: tuple[Any, ...], kwargs: dict[str, Any], *, max_bytes: int) -> RenderJob:
    """The job in a message; InvalidJob (or another PermanentError) says what is wrong with it."""
    payload = payload_of(args, kwargs)
    check_message_size(payload, limit=max_bytes)
    try:
        return RenderJob.model_validate(payload)
    except ValidationError as exc:
        raise InvalidJob(_describe(payload, exc)) from None


def payload_of(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if "job" in kwargs and not args:
        return kwargs["job"]
    if len(args) == 1 and not kwargs:
        return args[0]
    return {"__arguments__": {"args": list(args), "kwargs": sorted(kwargs)}}


def job_id_of(payload: Any) -> str | None:
    """The job id a refused message names, if it looks like one: its record can then say why."""
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if isinstance(job_id, str) and len(job_id) == 32 and all(c in "0123456789abcdef" for c in job_id):
        return job_id
    return None


def _describe(payload: Any, exc: ValidationError) -> str:
    if not isinstance(payload, dict) or "__arguments__" in payload:
        return f"invalid job message: send the job as kwargs={{'job': {{...}}}} (schema version {SCHEMA_VERSION})"
    version = payload.get("schema_version")
    if isinstance(version, str) and version.strip() == str(SCHEMA_VERSION):
        return f"invalid job message: schema_version must be the number {SCHEMA_VERSION}, not the string {version!r}"
    if version != SCHEMA_VERSION:
        return (
            f"invalid job message: schema_version {version!r} is not supported by this worker"
            f" (it speaks version {SCHEMA_VERSION}); see `narrate schema`"
        )
    problems = "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'job'}: {error['msg']}" for error in exc.errors()[:5]
    )
    return f"invalid job message: {problems}"
