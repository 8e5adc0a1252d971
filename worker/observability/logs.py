"""Worker logging, set up once per process through Celery's `setup_logging` signal: text or one JSON object per line.

Events that matter pass their facts as `extra` (job_id, book_id, chunk, attempt,
voice_mode, reference_hash, seconds, error): JSON lines carry them as fields,
text lines as the message already says. Celery's own lines come out the same
way, with the task's id and name. The Fish key is masked wherever it appears.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

# The attributes every LogRecord has: anything else on a record was passed as `extra`.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
TEXT_FORMAT = "[%(asctime)s: %(levelname)s/%(processName)s] %(message)s"
MASK = "***"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the event's fields, the task, the error class."""

    def __init__(
        self, *, secrets: list[str] | None = None, current_task: Callable[[], tuple[str, str] | None] = lambda: None
    ) -> None:
        """`current_task`: the running task's (id, name), or None; the Celery app supplies it."""
        super().__init__()
        self._secrets = [s for s in secrets or [] if len(s) >= 8]
        self._current_task = current_task

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "process": record.processName,
        }
        line.update(
            {key: value for key, value in vars(record).items() if key not in _STANDARD and not key.startswith("_")}
        )
        task = self._current_task()
        if task is not None and "task_id" not in line:
            line["task_id"], line["task"] = task
        if record.exc_info and record.exc_info[0] is not None:
            line.setdefault("error", record.exc_info[0].__name__)
            line["traceback"] = self.formatException(record.exc_info)
        return _masked(json.dumps(line, default=str, ensure_ascii=False), self._secrets)


class TextFormatter(logging.Formatter):
    def __init__(self, *, secrets: list[str] | None = None) -> None:
        super().__init__(TEXT_FORMAT)
        self._secrets = [s for s in secrets or [] if len(s) >= 8]

    def format(self, record: logging.LogRecord) -> str:
        return _masked(super().format(record), self._secrets)


def configure(
    *,
    fmt: str,
    level: int | str = logging.INFO,
    secrets: list[str] | None = None,
    current_task: Callable[[], tuple[str, str] | None] = lambda: None,
) -> None:
    """The root logger writes to stderr in `fmt`; every other handler is dropped, so no line escapes the format."""
    handler = logging.StreamHandler(sys.stderr)
    json_lines = JsonFormatter(secrets=secrets, current_task=current_task)
    handler.setFormatter(json_lines if fmt == "json" else TextFormatter(secrets=secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.captureWarnings(True)  # warnings (Celery's running-as-root one) are log lines in the same format
    for name in ("celery", "celery.task", "celery.worker", "celery.redirected", "redbeat", "kombu"):
        child = logging.getLogger(name)
        child.handlers.clear()
        child.propagate = True
    logging.getLogger("botocore").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("httpx").setLevel(max(logging.WARNING, root.level))


def _masked(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text
