"""An inbox pipeline's two steps, no Celery: scan (submit what is new) and settle (file what has finished).

A new object under the inbox is read once, hashed, and submitted: a text as a
job, Markdown or EPUB as a book, a manifest (`.jsonl`, `.yaml`) as its entries. Bytes seen before are not rendered again. When
its render has finished, the source is copied to `<inbox parent>/processed/<name>/`
(or `failed/<name>/`) beside a `<stem>.result.json` (or `.error.json`), and only
then deleted from the inbox. S3 shows an object only once its upload is
complete (a PUT is atomic, a multipart upload appears when it is completed), so a
file still being uploaded is never picked up half-written.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import redis

from producer.pipelines.config import Pipeline
from producer.pipelines.manifests import (
    ManifestWork,
    is_manifest,
    read_manifest_object,
    submit_manifest,
)
from producer.pipelines.state import InboxState
from producer.pipelines.voices import for_file, is_sidecar, voice_of
from producer.readers.books import decode_text, read_book
from producer.readers.booktext import BookText
from producer.readers.selection import ChapterChoice
from producer.readers.text import TextSource
from producer.submit.books import BookSubmitter
from producer.submit.jobs import Submitter, parse_out
from producer.submit.lexicons import fetched_lexicons
from producer.submit.synthesis import synthesis_from
from producer.submit.voices import VoiceBook
from worker import keys
from worker.books.state import BookState
from worker.errors import NarrateError
from worker.jobs.records import JobStore
from worker.redisconn import connect as connect_redis
from worker.settings import Settings
from worker.storage import Storage

JOB_SUFFIXES = (".txt",)
BOOK_SUFFIXES = (".md", ".markdown", ".epub")
PAGE = 1000


@dataclass
class InboxContext:
    settings: Settings
    storage: Storage
    client: redis.Redis
    jobs: Submitter
    books: BookSubmitter
    voices: VoiceBook
    clip_voices: dict[tuple[str, str, str], Any] = field(default_factory=dict)  # clips prepared during this run

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxContext:
        return cls(settings=settings, storage=Storage.from_settings(settings), client=connect_redis(settings.broker_url),
                   jobs=Submitter.from_settings(settings), books=BookSubmitter.from_settings(settings),
                   voices=VoiceBook.from_settings(settings))  # fmt: skip


@dataclass
class ScanResult:
    submitted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # over the day's budget: they wait in the inbox


def scan(pipeline: Pipeline, *, ctx: InboxContext) -> ScanResult:
    """Submit up to `max_new_per_scan` new files, one listing page at a time, from where the last scan stopped."""
    bucket, prefix = parse_out(pipeline.inbox or "")
    state = InboxState(ctx.client, pipeline.name)
    result = ScanResult()
    inflight = state.inflight()
    start = state.cursor()
    while len(result.submitted) < pipeline.max_new_per_scan:
        page = ctx.storage.list(bucket, _folder(prefix), start_after=start, limit=PAGE)
        for key, _size in page:
            start = key
            if key in inflight or is_sidecar(key) or not (key.lower().endswith(JOB_SUFFIXES + BOOK_SUFFIXES) or is_manifest(key)):
                continue
            _take(pipeline, bucket, key, ctx=ctx, state=state, result=result)
            if len(result.submitted) >= pipeline.max_new_per_scan:
                break  # the cap: the next scan goes on after `start`
        else:
            if len(page) < PAGE:
                start = ""  # the end: the next scan starts over, to see files added before the cursor
                break
    state.set_cursor(start)
    return result


def _take(pipeline: Pipeline, bucket: str, key: str, *, ctx: InboxContext, state: InboxState, result: ScanResult) -> None:
    data = ctx.storage.get(bucket, key)
    if data is None:
        return  # moved or deleted since the listing
    digest = hashlib.sha256(data).hexdigest()
    earlier = state.seen(digest)
    if earlier is not None:
        _file_away(pipeline, bucket, key, ctx=ctx, outcome="processed", report={**earlier, "duplicate_of": earlier.get("source")})
        result.duplicates.append(key)
        return
    try:
        pipeline = for_file(pipeline, bucket, key, storage=ctx.storage)
        out = f"{pipeline.out.rstrip('/')}/{PurePosixPath(key).stem}/"
        item = read_object(pipeline, key, data, out=out, ctx=ctx)
        cost = words_bytes(item) * ctx.settings.price_per_million_bytes / 1e6
        if pipeline.budget_per_day is not None and state.spent_today() + cost > pipeline.budget_per_day:
            state.hold(key, f"waits: its estimate ${cost:.2f} would take today's spend past budget_per_day ${pipeline.budget_per_day:.2f}")
            result.held.append(key)
            return
        submitted = submit_item(pipeline, item, out=out, ctx=ctx)
        state.spend(cost)
        state.unhold(key)
    except NarrateError as exc:
        report = {"source": keys.s3_url(bucket, key), "error": str(exc), "fix": "correct the file and upload it again"}
        _file_away(pipeline, bucket, key, ctx=ctx, outcome="failed", report=report)
        result.refused.append(key)
        return
    state.add_inflight(key, {"sha256": digest, **submitted})
    result.submitted.append(key)


def submit_object(pipeline: Pipeline, key: str, data: bytes, *, out: str, ctx: InboxContext) -> dict[str, Any]:
    """Submit one object's words: a text as a job, Markdown or EPUB as a book, a manifest as its entries."""
    return submit_item(pipeline, read_object(pipeline, key, data, out=out, ctx=ctx), out=out, ctx=ctx)


def read_object(pipeline: Pipeline, key: str, data: bytes, *, out: str, ctx: InboxContext) -> TextSource | BookText | ManifestWork:
    """The object's words, or BadInput saying what is wrong with the file."""
    name = PurePosixPath(key).name
    if is_manifest(key):
        return read_manifest_object(pipeline, key, data, out=out, storage=ctx.storage, settings=ctx.settings)
    if key.lower().endswith(JOB_SUFFIXES):
        return TextSource(name, decode_text(data, name))
    with tempfile.TemporaryDirectory(prefix="narrate-inbox-") as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        return read_book(str(path))


def words_bytes(item: TextSource | BookText | ManifestWork) -> int:
    if isinstance(item, ManifestWork):
        return item.text_bytes
    if isinstance(item, TextSource):
        return len(item.text.encode("utf-8"))
    return sum(len(chapter.text.encode("utf-8")) for chapter in item.chapters)


def submit_item(pipeline: Pipeline, item: TextSource | BookText | ManifestWork, *, out: str, ctx: InboxContext) -> dict[str, Any]:
    if isinstance(item, ManifestWork):
        return submit_manifest(pipeline, item, books=ctx.books, settings=ctx.settings)
    voice = voice_of(pipeline, voices=ctx.voices, storage=ctx.storage, prepared=ctx.clip_voices)
    synthesis = synthesis_from(f"pipeline {pipeline.name}", latency=pipeline.latency, speed=pipeline.speed)
    lexicons = fetched_lexicons(ctx.storage, pipeline.lexicon, where=f"pipeline {pipeline.name}: `lexicon`")
    if isinstance(item, TextSource):
        [job] = ctx.jobs.submit(sources=[item], voice=voice, out=out, fmt=pipeline.format, synthesis=synthesis, lexicons=lexicons)
        return {"kind": "job", "id": job.job_id}
    plan, cost = ctx.books.submit(item, voice=voice, out=out, fmt=None if pipeline.preset else pipeline.format,
                                  notify_url=pipeline.notify, budget_usd=pipeline.budget, preset=pipeline.preset,
                                  chapters=ChapterChoice.parse(pipeline.chapters), synthesis=synthesis,
                                  lexicons=lexicons)  # fmt: skip
    return {"kind": "book", "id": plan.book_id, "estimated_cost_usd": cost.uncached_cost_usd}


@dataclass
class SettleResult:
    processed: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def settle(pipeline: Pipeline, *, ctx: InboxContext) -> SettleResult:
    """File away every source whose render has finished, with its result or its error."""
    bucket, _ = parse_out(pipeline.inbox or "")
    state = InboxState(ctx.client, pipeline.name)
    result = SettleResult()
    jobs, books = JobStore(ctx.client), BookState(ctx.client)
    for key, entry in state.inflight().items():
        outcome = _outcome(entry, jobs=jobs, books=books)
        if outcome is None:
            continue
        succeeded, report = outcome
        report = {"source": keys.s3_url(bucket, key), **entry, **_with_reports(entry["kind"], report, ctx=ctx)}
        _file_away(pipeline, bucket, key, ctx=ctx, outcome="processed" if succeeded else "failed", report=report)
        if succeeded:
            state.mark_seen(entry["sha256"], report)
        state.drop_inflight(key)
        (result.processed if succeeded else result.failed).append(key)
    return result


def _with_reports(kind: str, report: dict[str, Any], *, ctx: InboxContext) -> dict[str, Any]:
    """The outcome with each finished book's outputs and reports added."""
    if kind == "book":
        return {**report, **_book_reports(report, ctx=ctx)}
    if kind == "manifest":
        return {**report, "entries": [_with_reports(item["kind"], item, ctx=ctx) for item in report["entries"]]}
    return report


def _book_reports(report: dict[str, Any], *, ctx: InboxContext) -> dict[str, Any]:
    """A finished book's outputs and loudness reports (ACX checks), from its manifest."""
    url = report.get("manifest_url")
    if not url:
        return {}
    raw = ctx.storage.get(*parse_out(url))
    manifest = json.loads(raw) if raw else {}
    return {"outputs": manifest.get("outputs"), "reports": manifest.get("reports")}


def _outcome(entry: dict[str, Any], *, jobs: JobStore, books: BookState) -> tuple[bool, dict[str, Any]] | None:
    if entry["kind"] == "manifest":
        return _manifest_outcome(entry["items"], jobs=jobs, books=books)
    if entry["kind"] == "job":
        record = jobs.get(entry["id"])
        if record is None or not record.finished:
            return None
        if record.state == "succeeded":
            return True, {"output_url": record.output_url, "manifest_url": record.manifest_url, "duration_seconds": record.duration_seconds}
        return False, {"error": record.error, "fix": "see the error; correct the file and upload it again, or `narrate retry`"}
    book = books.get(entry["id"])
    if book is None or book.get("state") not in ("succeeded", "failed"):
        return None
    if book["state"] == "succeeded":
        return True, {"output_url": book.get("output_url"), "manifest_url": book.get("manifest_url"), "bytes_billed": book.get("bytes_billed")}
    return False, {"error": book.get("error"), "fix": "see the error; correct the file and upload it again"}


def _manifest_outcome(items: list[dict[str, Any]], *, jobs: JobStore, books: BookState) -> tuple[bool, dict[str, Any]] | None:
    """Finished when every entry has; succeeded when every entry did."""
    outcomes = [_outcome(item, jobs=jobs, books=books) for item in items]
    if any(outcome is None for outcome in outcomes):
        return None
    entries = [{**item, "succeeded": ok, **report} for item, (ok, report) in zip(items, outcomes)]  # type: ignore[misc]
    failed = [entry for entry in entries if not entry["succeeded"]]
    if not failed:
        return True, {"entries": entries}
    return False, {"entries": entries, "error": f"{len(failed)} of {len(entries)} entries failed; the first: {failed[0]['error']}",
                   "fix": "see each entry's error; fix the manifest (or `narrate retry` the failed jobs) and upload it again"}  # fmt: skip


def _file_away(pipeline: Pipeline, bucket: str, key: str, *, ctx: InboxContext, outcome: str, report: dict[str, Any]) -> None:
    """Copy the source and write its report first; delete it from the inbox only once both exist."""
    _, prefix = parse_out(pipeline.inbox or "")
    parent = str(PurePosixPath(prefix.rstrip("/")).parent).lstrip(".")
    folder = "/".join(p for p in (parent, outcome, pipeline.name) if p)
    source = PurePosixPath(key)
    ctx.storage.copy(bucket, key, f"{folder}/{source.name}")
    suffix = "result" if outcome == "processed" else "error"
    body = json.dumps({**report, "filed_at": time.time()}, indent=2, default=str).encode()
    ctx.storage.put(bucket, f"{folder}/{source.stem}.{suffix}.json", body, content_type="application/json")
    ctx.storage.delete(bucket, key)


def _folder(prefix: str) -> str:
    return prefix if not prefix or prefix.endswith("/") else prefix + "/"
