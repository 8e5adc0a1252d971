"""What proof-listening left for a person, gathered for `narrate qc` and `narrate status`.

A finished book's report is in its manifest.json. A book still rendering has it in pieces: each assembled chapter's
own report in Redis (its failing chunks placed in the chapter file), and for the chapters still to assemble the
summaries their chunks left so far (counted, but not placed: a chunk's seconds in the chapter file are known once
the file is made). A single job's report is its manifest's `qc`.
"""

from __future__ import annotations

import json
from typing import Any

from worker import keys
from worker.books.plan import BookPlan
from worker.books.state import BookState
from worker.jobs.records import JobRecord
from worker.storage import Storage
from worker.takes.summary import totals

TOTALS = ("chunks_heard", "takes_heard", "retakes", "left_failing", "not_heard")


class ReportMissing(LookupError):
    """What the report is read from (a plan, a manifest) is not where the book's record says."""


def book_report(book: dict[str, Any], *, state: BookState, storage: Storage) -> dict[str, Any]:
    """{"book_id", "title", "state", "mode", "chapters": [...], totals}: each chapter {"index", "title",
    "output_url", "assembled", totals, "failing"}; `failing` entries are worker.takes.summary's failing chunks,
    whose seconds are None while their chapter is not assembled."""
    manifest = _read_json(storage, book.get("manifest_url", "")) if book.get("state") == "succeeded" else None
    if manifest is not None:
        mode = (manifest.get("qc") or {}).get("mode", "off")
        chapters = [_assembled(chapter, chapter.get("qc")) for chapter in manifest["chapters"]]
    else:
        plan = book_plan(book, storage)
        mode = plan.qc.mode
        chapters = _from_redis(book, plan, state=state) if mode != "off" else []
    if mode == "off":
        chapters = []
    head = {"book_id": book["book_id"], "title": book.get("title", ""), "state": book.get("state", ""), "mode": mode}
    return {**head, "chapters": chapters, **_summed(chapters)}


def book_totals(book: dict[str, Any], *, state: BookState) -> dict[str, int] | None:
    """The book's counts from Redis alone (`narrate status`): assembled chapters' reports and what the others'
    chunks left so far; None while nothing has been heard (a book not heard, or none of its chunks done yet)."""
    counts: list[dict[str, Any]] = []
    for chapter in book["chapters"]:
        if chapter.get("qc"):
            counts.append(chapter["qc"])
        else:
            summaries = state.heard(book["book_id"], chapter["index"])
            counts.append(totals(summaries.values()) if summaries else {})
    if not any(counts):
        return None
    return _summed(counts)


def job_report(record: JobRecord, *, storage: Storage) -> dict[str, Any] | None:
    """{"job_id", "title", "state", "mode", "output_url", totals, "failing"} from the finished job's manifest; mode
    "off" when it was not heard; None while the job has no manifest to read (not finished, or failed)."""
    manifest = _read_json(storage, record.manifest_url) if record.state == "succeeded" else None
    if manifest is None:
        return None
    qc = manifest.get("qc") or {"mode": "off"}
    head = {"job_id": record.job_id, "title": record.title, "state": record.state, "mode": qc["mode"]}
    if qc["mode"] == "off":
        return head
    return {**head, "output_url": record.output_url, **{k: qc.get(k, 0) for k in TOTALS}, "failing": qc["failing"]}


def _assembled(chapter: dict[str, Any], qc: dict[str, Any] | None) -> dict[str, Any]:
    """A chapter whose file is made: its report as the assembly wrote it (failing chunks placed in the file)."""
    qc = qc or {}
    return {
        **_chapter_head(chapter),
        "assembled": True,
        **{k: qc.get(k, 0) for k in TOTALS},
        "failing": qc.get("failing", []),
    }


def _from_redis(book: dict[str, Any], plan: BookPlan, *, state: BookState) -> list[dict[str, Any]]:
    out = []
    for chapter in book["chapters"]:
        if chapter.get("qc"):
            out.append(_assembled(chapter, chapter["qc"]))
            continue
        heard = state.heard(book["book_id"], chapter["index"])
        texts = {chunk.index: chunk.text for chunk in plan.chapters[chapter["index"]].chunks}
        failing = [
            _unplaced(summary, chunk=index, text=texts.get(index, ""))
            for index, summary in sorted(heard.items())
            if summary["verdict"] == "fail"
        ]
        out.append({**_chapter_head(chapter), "assembled": False, **totals(heard.values()), "failing": failing})
    return out


def _chapter_head(chapter: dict[str, Any]) -> dict[str, Any]:
    return {"index": chapter["index"], "title": chapter.get("title", ""), "output_url": chapter.get("output_url", "")}


def _unplaced(summary: dict[str, Any], *, chunk: int, text: str) -> dict[str, Any]:
    """A failing chunk of a chapter not yet assembled, in the shape of a placed one: its seconds are not known."""
    faults = [{**finding, "start": None, "end": None} for finding in summary.get("findings", [])]
    return {
        "chunk": chunk + 1,
        "start_seconds": None,
        "end_seconds": None,
        "text": text,
        "heard": summary.get("heard", ""),
        "takes": summary["takes"],
        "faults": faults,
    }


def _summed(chapters: list[dict[str, Any]]) -> dict[str, int]:
    return {name: sum(chapter.get(name, 0) for chapter in chapters) for name in TOTALS}


def book_plan(book: dict[str, Any], storage: Storage) -> BookPlan:
    """The plan of a book, from where its record says it is; ReportMissing when it is not there."""
    bucket, key = book.get("bucket", ""), keys.book_plan(book.get("prefix", ""), book["book_id"])
    raw = storage.get(bucket, key)
    if raw is None:
        raise ReportMissing(f"book {book['book_id']}: its plan is missing at {keys.s3_url(bucket, key)}")
    return BookPlan.model_validate_json(raw)


def _read_json(storage: Storage, url: str) -> dict[str, Any] | None:
    """The JSON object at an s3:// URL; None when there is no URL or nothing there."""
    if not url.startswith("s3://"):
        return None
    bucket, _, key = url.removeprefix("s3://").partition("/")
    raw = storage.get(bucket, key)
    return None if raw is None else json.loads(raw)
