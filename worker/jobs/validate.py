"""Checks on a job message beyond its schema: size limits and what the worker must refuse.

Messages can come from any Celery client, so the worker checks again what the
producer already checked; each refusal says what is wrong and how to fix it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from worker.contract import RenderJob
from worker.errors import BadInput, InvalidJob
from worker.settings import Settings

# C0 and C1 controls and DEL, except newline, carriage return and tab: they are not speech, and
# escape sequences or NULs in a text are a sign of a binary file or an attempt at terminal injection.
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def check_message_size(payload: Any, *, limit: int) -> None:
    size = len(json.dumps(payload, default=str).encode("utf-8"))
    if size > limit:
        raise InvalidJob(f"invalid job message: {size} bytes, over the limit of {limit} (NARRATE_MAX_MESSAGE_BYTES)")


def check_job(job: RenderJob, *, settings: Settings) -> None:
    text_bytes = len(job.text.encode("utf-8"))
    if text_bytes > settings.max_text_bytes:
        raise BadInput(
            f"the text is {text_bytes} bytes, over the limit of {settings.max_text_bytes}"
            " (NARRATE_MAX_TEXT_BYTES): split it into several jobs"
        )
    check_text_characters(job.text, where="the text")


def check_text_characters(text: str, *, where: str) -> None:
    """Refuse control characters other than newline, carriage return and tab, naming the first one."""
    found = _TEXT_CONTROL.search(text)
    if found is not None:
        raise BadInput(
            f"{where} contains control character U+{ord(found.group()):04X} at character {found.start()}:"
            " only newline, carriage return and tab are allowed; remove it"
        )
