"""The events that matter, each one log line with its facts as fields (JSON logs carry them; text logs say them)."""

from __future__ import annotations

import logging
from typing import Any


def event(log: logging.Logger, level: int, message: str, *args: Any, exc_info: bool = False, **fields: Any) -> None:
    """`fields`: job_id, book_id, chapter, chunk, attempt, voice_mode, reference_hash, seconds, cause, error...; None
    is left out."""
    extra = {key: value for key, value in fields.items() if value is not None}
    if "reference_hash" in extra:
        extra["reference_hash"] = str(extra["reference_hash"])[:12]  # short: enough to find it, no need for all of it
    if isinstance(extra.get("error"), BaseException):
        extra["error"] = extra["error"].__class__.__name__
    log.log(level, message, *args, exc_info=exc_info, extra=extra)


def cause_of(exc: BaseException) -> str:
    """Why a retry happens: rate_limited, server_error, timeout, storage, slot_wait, credit_wait, time_limit or
    other."""
    if exc.__class__.__name__ == "SoftTimeLimitExceeded":
        return "time_limit"
    return str(getattr(exc, "cause", "other"))
