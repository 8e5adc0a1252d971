"""Settling an inbox: every source whose render has finished is filed away with its result or its error.

Each source is settled on its own: an error about one (its report denied, its
record gone, a crash) files that one as far as it can and the others go on. A
transient error (S3 or Redis unreachable) leaves it in flight for the next run.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.filing import file_away
from producer.pipelines.state import BATCH_KIND, InboxState
from producer.submit.jobs import parse_out
from worker import keys
from worker.books.state import BookState
from worker.errors import PermanentError, TransientError
from worker.jobs.records import JobStore

log = logging.getLogger("narrate.pipelines")
# about no file in particular: the run is tried again later, nothing is filed
TRANSIENT = (TransientError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
GONE = "its record is gone (kept NARRATE_JOB_TTL_DAYS days, or Redis lost it); upload the file again to render it"


@dataclass
class SettleResult:
    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # a transient error: settled by a later run


def settle(pipeline: Pipeline, *, ctx: InboxContext) -> SettleResult:
    """File away every source whose render has finished, with its result or its error."""
    state = InboxState(ctx.client, pipeline.name, keep_days=ctx.settings.job_ttl_days)
    result = SettleResult()
    records = JobStore(ctx.client), BookState(ctx.client)
    for key, entry in state.inflight().items():
        if entry.get("resume"):
            continue  # some entries are still to be sent: the scan does that first
        try:
            _settle_one(pipeline, key, entry, ctx=ctx, state=state, records=records, result=result)
        except TRANSIENT as exc:
            log.warning("pipeline %s: %s waits for the next run: %s", pipeline.name, key, exc)
            result.waiting.append(key)
        except Exception as exc:  # noqa: BLE001  (one source's crash must not stop the others)
            log.exception("pipeline %s: settling %s failed", pipeline.name, key)
            error = {
                "source": keys.s3_url(parse_out(pipeline.inbox or "")[0], key),
                **entry,
                "error": f"settling this file failed ({exc.__class__.__name__}: {exc})",
                "fix": "see the error; upload the file again",
            }
            try:
                _file(pipeline, key, entry, ctx=ctx, state=state, succeeded=False, report=error)
                result.failed.append(key)
            except TRANSIENT:
                result.waiting.append(key)
    return result


def _settle_one(
    pipeline: Pipeline,
    key: str,
    entry: dict[str, Any],
    *,
    ctx: InboxContext,
    state: InboxState,
    records: tuple[JobStore, BookState],
    result: SettleResult,
) -> None:
    outcome = outcome_of(entry, jobs=records[0], books=records[1])
    if outcome is None:
        return
    succeeded, report = outcome
    bucket, _ = parse_out(pipeline.inbox or "")
    report = {"source": keys.s3_url(bucket, key), **_plain(entry), **_with_reports(entry["kind"], report, ctx=ctx)}
    _file(pipeline, key, entry, ctx=ctx, state=state, succeeded=succeeded, report=report)
    if succeeded:
        state.mark_seen(entry["sha256"], {**report, "filed_at": time.time()}, tag=entry.get("tag"))
    elif entry["kind"] == BATCH_KIND:  # what did render is not paid for again when the batch file comes back
        done = {e["tag"]: _summary(e) for e in report.get("entries", []) if e.get("succeeded") and e.get("tag")}
        state.mark_partial(entry["sha256"], done)
    (result.processed if succeeded else result.failed).append(key)


def _file(
    pipeline: Pipeline,
    key: str,
    entry: dict[str, Any],
    *,
    ctx: InboxContext,
    state: InboxState,
    succeeded: bool,
    report: dict[str, Any],
) -> None:
    filed = file_away(
        ctx.storage,
        inbox=pipeline.inbox or "",
        pipeline=pipeline.name,
        key=key,
        outcome="processed" if succeeded else "failed",
        report=report,
    )
    if filed.notes:
        state.note_problem(key, filed.notes)
    if not filed.moved and entry.get("tag"):
        state.keep(key, entry["tag"])
    state.drop_inflight(key)


def _plain(entry: dict[str, Any]) -> dict[str, Any]:
    """The in-flight entry as a report shows it: no bookkeeping fields."""
    return {k: v for k, v in entry.items() if k not in ("items", "tag", "resume")}


def _summary(entry: dict[str, Any]) -> dict[str, Any]:
    return {
        k: entry[k]
        for k in ("kind", "id", "bytes", "output_url", "manifest_url", "duration_seconds")
        if entry.get(k) is not None
    }


def _with_reports(kind: str, report: dict[str, Any], *, ctx: InboxContext) -> dict[str, Any]:
    """The outcome with each finished book's outputs and reports added."""
    if kind == "book":
        return {**report, **_book_reports(report, ctx=ctx)}
    if kind == BATCH_KIND:
        return {**report, "entries": [_with_reports(item["kind"], item, ctx=ctx) for item in report["entries"]]}
    return report


def _book_reports(report: dict[str, Any], *, ctx: InboxContext) -> dict[str, Any]:
    """A finished book's outputs and loudness reports (ACX checks), from its manifest.

    What stops that is said instead.
    """
    url = report.get("manifest_url")
    if not url:
        return {}
    try:
        raw = ctx.storage.get(*parse_out(url))
        manifest = json.loads(raw) if raw else {}
    except (PermanentError, ValueError) as exc:
        return {"reports_error": f"the book's manifest {url} could not be read: {exc}"}
    return {"outputs": manifest.get("outputs"), "reports": manifest.get("reports")}


def outcome_of(entry: dict[str, Any], *, jobs: JobStore, books: BookState) -> tuple[bool, dict[str, Any]] | None:
    """(succeeded, what to report) once the entry's render has finished; None while it runs."""
    if "carried" in entry:
        return True, entry["carried"]  # rendered by an earlier upload of the same batch file
    if entry["kind"] == BATCH_KIND:
        return _batch_outcome(entry["items"], unsent=entry.get("unsent"), jobs=jobs, books=books)
    if entry["kind"] == "job":
        record = jobs.get(entry["id"])
        if record is None:
            return False, {"error": GONE, "fix": "upload the file again"}
        if not record.finished:
            return None
        if record.state == "succeeded":
            return True, {
                "output_url": record.output_url,
                "manifest_url": record.manifest_url,
                "duration_seconds": record.duration_seconds,
            }
        return False, {
            "error": record.error,
            "fix": "see the error; correct the file and upload it again, or `narrate retry`",
        }
    book = books.get(entry["id"])
    if book is None:
        return False, {"error": GONE, "fix": "upload the file again"}
    if book.get("state") not in ("succeeded", "failed"):
        return None
    if book["state"] == "succeeded":
        return True, {
            "output_url": book.get("output_url"),
            "manifest_url": book.get("manifest_url"),
            "bytes_billed": book.get("bytes_billed"),
        }
    return False, {"error": book.get("error"), "fix": "see the error; correct the file and upload it again"}


def _batch_outcome(
    items: list[dict[str, Any]], *, unsent: str | None, jobs: JobStore, books: BookState
) -> tuple[bool, dict[str, Any]] | None:
    """Finished when every entry sent has; succeeded when every entry was sent and did."""
    outcomes = [outcome_of(item, jobs=jobs, books=books) for item in items]
    if any(outcome is None for outcome in outcomes):
        return None
    entries = [
        {**{k: v for k, v in item.items() if k != "carried"}, "succeeded": ok, **report}
        for item, (ok, report) in zip(items, outcomes)
    ]  # type: ignore[misc]
    failed = [entry for entry in entries if not entry["succeeded"]]
    if unsent:
        return False, {
            "entries": entries,
            "error": f"only {len(entries)} entries were sent before sending failed: {unsent}",
            "fix": "correct what the error names and upload the batch file again:"
            " entries already rendered are not rendered again",
        }
    if not failed:
        return True, {"entries": entries}
    return False, {
        "entries": entries,
        "error": f"{len(failed)} of {len(entries)} entries failed; the first: {failed[0]['error']}",
        "fix": "see each entry's error; fix the batch file (or `narrate retry` the failed jobs) and upload it again;"
        " entries already rendered are not rendered again",
    }
