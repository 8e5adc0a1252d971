"""Worker log lines: JSON objects with the event's fields, or text; the Fish key masked in both."""

from __future__ import annotations

import json
import logging

from worker.errors import FishUnavailable, StorageUnavailable
from worker.observability.events import cause_of, event
from worker.observability.logs import JsonFormatter, TextFormatter

SECRET = "fish-key-0123456789abcdef"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("narrate.worker", logging.WARNING, __file__, 1, message, args, None)
    made.__dict__.update(extra)
    return made


def test_a_json_line_carries_the_events_fields_and_the_task() -> None:
    formatter = JsonFormatter(secrets=[SECRET], current_task=lambda: ("3f2a", "narrate.render"))
    line = json.loads(
        formatter.format(
            record("job %s: %s", "3f2a", f"refused with key {SECRET}", job_id="3f2a", attempt=2, cause="timeout")
        )
    )
    assert (
        line["message"] == "job 3f2a: refused with key ***"
        and line["level"] == "warning"
        and line["logger"] == "narrate.worker"
    )
    assert (line["job_id"], line["attempt"], line["cause"], line["task_id"], line["task"]) == (
        "3f2a",
        2,
        "timeout",
        "3f2a",
        "narrate.render",
    )
    assert SECRET not in formatter.format(record("x", token=SECRET))


def test_an_exception_gives_its_class_and_traceback() -> None:
    try:
        raise StorageUnavailable("s3 down")
    except StorageUnavailable:
        made = logging.LogRecord(
            "narrate.books", logging.ERROR, __file__, 1, "failed", (), __import__("sys").exc_info()
        )
    line = json.loads(JsonFormatter().format(made))
    assert line["error"] == "StorageUnavailable" and "s3 down" in line["traceback"]


def test_text_lines_are_masked_too() -> None:
    assert SECRET not in TextFormatter(secrets=[SECRET]).format(record("key %s", SECRET))


def test_events_shorten_the_reference_hash_and_name_the_error_class(caplog) -> None:
    log = logging.getLogger("narrate.test")
    with caplog.at_level(logging.INFO, logger="narrate.test"):
        event(
            log,
            logging.INFO,
            "job %s",
            "j1",
            job_id="j1",
            reference_hash="a" * 64,
            error=FishUnavailable("busy"),
            chunk=None,
        )
    [made] = caplog.records
    assert (made.job_id, made.reference_hash, made.error) == ("j1", "a" * 12, "FishUnavailable")
    assert not hasattr(made, "chunk")  # None is left out


def test_retry_causes() -> None:
    assert cause_of(FishUnavailable("x", cause="rate_limited")) == "rate_limited"
    assert cause_of(StorageUnavailable("x")) == "storage"
    assert cause_of(ValueError("x")) == "other"
