"""An inbox pipeline's two steps, no Celery: scan (submit what is new) and settle (file what has finished).

A new object under the inbox is read once, hashed, and submitted: a text as a
job, Markdown or EPUB as a book, a batch file (`.jsonl`, `.yaml`) as its entries.
Bytes seen before are not rendered again. When its render has finished, the
source is copied to `<inbox parent>/processed/<pipeline>/<its path below the
inbox>` (or `failed/…`) beside a `<stem>.result.json` (or `.error.json`), and
only then deleted from the inbox (see filing.py). S3 shows an object only once
its upload is complete (a PUT is atomic, a multipart upload appears when it is
completed), so a file still being uploaded is never picked up half-written.

Each file is taken on its own: whatever is wrong with one (unreadable, refused
by S3, a reader's crash) files that one under `failed/` and the scan goes on.
A transient error (S3 or Redis unreachable) is about no file: the scan stops
there, its cursor before that file, and the error goes up so the run is tried
again. A file held back by the budget, or a duplicate, is recognised by its
ETag and size from the listing, without downloading it again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from producer.pipelines.batches import BatchWork, PartlySent
from producer.pipelines.boundary import grant_for
from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.filing import file_away
from producer.pipelines.items import Item, is_source, read_object, submit_item, submit_object, words_bytes
from producer.pipelines.settle import TRANSIENT, SettleResult, settle
from producer.pipelines.state import BATCH_KIND, InboxState, upload_tag
from producer.pipelines.voices import for_file, is_sidecar
from producer.submit.fetch import fetch_within
from producer.submit.grant import Refused
from producer.submit.jobs import parse_out
from producer.submit.read_along import ReadAlongSource
from worker import keys
from worker.errors import NarrateError

__all__ = ["InboxContext", "ScanResult", "SettleResult", "scan", "settle", "submit_object"]

log = logging.getLogger("narrate.pipelines")
PAGE = 1000


@dataclass
class ScanResult:
    submitted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # over the day's budget: they wait in the inbox
    stopped: str | None = None  # why the scan stopped before its cap or the end of the inbox


@dataclass
class _Scan:
    pipeline: Pipeline
    bucket: str
    ctx: InboxContext
    state: InboxState
    result: ScanResult

    @property
    def full(self) -> bool:
        return len(self.result.submitted) >= self.pipeline.max_new_per_scan

    def affordable(self, cost: float) -> bool:
        budget = self.pipeline.budget_per_day
        return budget is None or self.state.spent_today() + cost <= budget


def scan(pipeline: Pipeline, *, ctx: InboxContext, deadline: float | None = None) -> ScanResult:
    """Submit up to `max_new_per_scan` new files, one listing page at a time, from where the last scan stopped.

    `deadline` (time.monotonic()): no new file is taken after it; the next run goes on from there.
    """
    bucket, prefix = parse_out(pipeline.inbox or "")
    run = _Scan(
        pipeline, bucket, ctx, InboxState(ctx.client, pipeline.name, keep_days=ctx.settings.job_ttl_days), ScanResult()
    )
    inflight = run.state.inflight()
    start = run.state.cursor()
    try:
        while not run.full:
            page = ctx.storage.list_tagged(bucket, _folder(prefix), start_after=start, limit=PAGE)
            for key, size, etag in page:
                if deadline is not None and time.monotonic() >= deadline:
                    run.result.stopped = "the run's time limit"
                    return run.result
                earlier = inflight.get(key)
                if is_source(key) and not is_sidecar(key) and (earlier is None or earlier.get("resume")):
                    _take_alone(run, key, upload_tag(etag, size), earlier=earlier)
                start = key  # past this file only once it is settled: a transient error retries it
                if run.full:
                    return run.result  # the cap: the next scan goes on after `start`
            if len(page) < PAGE:
                start = ""  # the end: the next scan starts over, to see files added before the cursor
                return run.result
        return run.result
    finally:
        run.state.set_cursor(start)


def _take_alone(run: _Scan, key: str, tag: str, *, earlier: dict[str, Any] | None) -> None:
    """Take one file; whatever is wrong with it files it under `failed/` and leaves the others alone."""
    try:
        _take(run, key, tag, earlier=earlier)
    except TRANSIENT:
        raise
    except Exception as exc:  # noqa: BLE001  (a reader's crash on one file must not stop the scan)
        refused = {"refused": exc.reference} if isinstance(exc, Refused) else {}
        if isinstance(exc, Refused):
            error, fix = (
                str(exc),
                "name only what this pipeline may reach (`narrate pipelines check` shows it),"
                " then upload the file again",
            )
        elif isinstance(exc, NarrateError):
            error, fix = str(exc), "correct the file and upload it again"
        else:
            log.exception("pipeline %s: reading %s crashed", run.pipeline.name, key)
            error = f"reading the file failed unexpectedly ({exc.__class__.__name__}: {exc})"
            fix = "check that the file opens in an ordinary reader, then upload it again; if it does, report this error"
        _file(
            run,
            key,
            tag,
            outcome="failed",
            report={"source": keys.s3_url(run.bucket, key), "error": error, "fix": fix, **refused},
        )
        run.result.refused.append(key)


def _take(run: _Scan, key: str, tag: str, *, earlier: dict[str, Any] | None) -> None:
    """Download, read and send one file, unless it is known already, held back, or over today's budget."""
    if earlier is None and _settled_from_listing(run, key, tag):
        return
    ctx = run.ctx
    data = fetch_within(ctx.storage, run.bucket, key, limit=ctx.settings.fetch_max_bytes)
    if data is None:
        return  # moved or deleted since the listing
    digest = hashlib.sha256(data).hexdigest()
    if earlier is None and (known := run.state.seen(digest)) is not None:
        return _duplicate(run, key, tag, known, digest=digest)
    grant = grant_for(run.pipeline)  # the operator's boundary: a sidecar changes the pipeline, never what it may reach
    pipeline = for_file(
        run.pipeline, run.bucket, key, storage=ctx.storage, grant=grant, seconds=ctx.settings.parse_seconds
    )
    out = f"{pipeline.out.rstrip('/')}/{PurePosixPath(key).stem}/"
    item = read_object(pipeline, key, data, out=out, ctx=ctx, grant=grant)
    prior = _prior_entries(run.state, item, earlier=earlier, digest=digest)
    rate = ctx.settings.price_per_million_bytes / 1e6
    paid_before = sum(int(i.get("bytes") or i.get("carried", {}).get("bytes") or 0) for i in prior)
    cost = max(0, words_bytes(item) - paid_before) * rate
    if not run.affordable(cost):
        run.state.hold(
            key,
            f"waits: its estimate ${cost:.2f} would take today's spend past budget_per_day"
            f" ${pipeline.budget_per_day:.2f}",
            tag=tag,
            cost=cost,
        )
        run.result.held.append(key)
        return
    source = ReadAlongSource(PurePosixPath(key).name, data)
    _send(run, pipeline, key, tag, item=item, source=source, out=out, digest=digest, prior=prior, cost=cost, rate=rate)


def _settled_from_listing(run: _Scan, key: str, tag: str) -> bool:
    """Whether the listing alone decides the file, with no download: a known upload, or one held back."""
    known = run.state.seen_upload(tag)
    if known is not None:
        _duplicate(run, key, tag, known, digest=None)
        return True
    held = run.state.held(key)
    if run.state.kept(key) == tag or (
        held and held.get("tag") == tag and not run.affordable(float(held.get("cost", 0)))
    ):
        if held:
            run.result.held.append(key)
        return True
    return False


def _prior_entries(
    state: InboxState, item: Item, *, earlier: dict[str, Any] | None, digest: str
) -> list[dict[str, Any]]:
    """A batch file's entries sent by this upload before a transient error, or rendered by an earlier upload of the
    same bytes: not sent, nor paid for, again."""
    resumed = list(earlier.get("items", [])) if earlier and earlier.get("sha256") == digest else []
    carried = (
        [{"tag": t, "kind": s.get("kind"), "id": s.get("id"), "carried": s} for t, s in state.partial(digest).items()]
        if isinstance(item, BatchWork)
        else []
    )
    return carried + resumed


def _send(
    run: _Scan,
    pipeline: Pipeline,
    key: str,
    tag: str,
    *,
    item: Item,
    source: ReadAlongSource,
    out: str,
    digest: str,
    prior: list[dict[str, Any]],
    cost: float,
    rate: float,
) -> None:
    """Send the file's words, pay for what went out, and track the file until its renders end."""
    already = frozenset(i["tag"] for i in prior if i.get("tag"))
    try:
        submitted = submit_item(pipeline, item, out=out, ctx=run.ctx, already=already, source=source)
    except PartlySent as exc:
        _partly_sent(run, key, tag, digest=digest, prior=prior, sent=exc, rate=rate)
        return
    if submitted["kind"] == BATCH_KIND:
        run.state.spend(sum(int(i["bytes"]) for i in submitted["items"]) * rate)
        submitted["items"] = prior + submitted["items"]
    else:
        run.state.spend(cost)
    run.state.add_inflight(key, {"sha256": digest, "tag": tag, **submitted})
    run.state.unhold(key)
    run.result.submitted.append(key)


def _partly_sent(
    run: _Scan, key: str, tag: str, *, digest: str, prior: list[dict[str, Any]], sent: PartlySent, rate: float
) -> None:
    """Track and pay for the entries that went out.

    A transient cause resumes at the next run; a permanent one files the batch file once those entries end.
    """
    run.state.spend(sum(int(i["bytes"]) for i in sent.items) * rate)
    transient = isinstance(sent.cause, TRANSIENT)
    ending = {"resume": True} if transient else {"unsent": str(sent.cause)}
    run.state.add_inflight(
        key, {"sha256": digest, "tag": tag, "kind": BATCH_KIND, "items": prior + sent.items, **ending}
    )
    run.state.unhold(key)
    if transient:
        raise sent.cause
    run.result.submitted.append(key)


def _duplicate(run: _Scan, key: str, tag: str, earlier: dict[str, Any], *, digest: str | None) -> None:
    _file(run, key, tag, outcome="processed", report={**earlier, "duplicate_of": earlier.get("source")})
    if digest is not None:
        run.state.mark_seen(digest, earlier, tag=tag)  # the next upload with this ETag is known from the listing
    run.result.duplicates.append(key)


def _file(run: _Scan, key: str, tag: str, *, outcome: str, report: dict[str, Any]) -> None:
    filed = file_away(
        run.ctx.storage,
        inbox=run.pipeline.inbox or "",
        pipeline=run.pipeline.name,
        key=key,
        outcome=outcome,
        report=report,
    )
    if filed.notes:
        run.state.note_problem(key, filed.notes)
    if not filed.moved:
        run.state.keep(key, tag)  # S3 would not let it leave the inbox: not taken again until it is uploaded anew
    run.state.unhold(key)


def _folder(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"
