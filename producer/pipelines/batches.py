"""A batch file dropped into an inbox (or rendered on schedule): its entries become jobs and books.

Each entry is what `narrate submit books.jsonl` reads, with the pipeline filling
what the entry leaves out: the voice (the pipeline's, or its sidecar's), the
format, the preset, the chapters, and the output, `<out>/<batch file stem>/` for a
job and `<out>/<batch file stem>/<book stem>/` for a book. Paths are S3 URLs here
(`file`, `transcript_file`, a `voice` clip), fetched once each; a book the
batch file names must lie outside the inbox, or the scan would render it on its
own as well. Everything is read and checked, budgets included, before the first
entry is sent.

What an entry names is held to the pipeline's grant (boundary.py) before any
of it is fetched: a reference outside it refuses the batch file, naming the
reference and why. The batch file and what it names are read in child processes
stopped at NARRATE_PARSE_SECONDS (bounded.py).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from producer.pipelines import parsing
from producer.pipelines.bounded import within
from producer.pipelines.config import Pipeline
from producer.pipelines.state import BATCH_KIND
from producer.readers.batch import BATCH_SUFFIXES
from producer.readers.quality import NOT_ASKED
from producer.readers.selection import ChapterChoice
from producer.submit.batch_work import Work
from producer.submit.batches import check_buckets
from producer.submit.books import BookSubmitter
from producer.submit.grant import Grant, Refused
from producer.submit.jobs import Submitter
from producer.submit.references import Fetched, local_name, localised, written
from producer.submit.synthesis import synthesis_from
from worker.errors import BadInput
from worker.settings import Settings
from worker.storage import Storage


def is_batch_file(key: str) -> bool:
    return key.lower().endswith(BATCH_SUFFIXES)


@dataclass
class BatchWork:
    """A batch file's entries, read and voiced; nothing sent yet."""

    name: str
    work: Work

    @property
    def text_bytes(self) -> int:
        jobs = sum(
            len(source.text.encode("utf-8")) for group in self.work.job_groups.values() for source in group.sources
        )
        books = sum(len(chapter.text.encode("utf-8")) for book in self.work.books for chapter in book.book.chapters)
        return jobs + books


def read_batch_object(
    pipeline: Pipeline, key: str, data: bytes, *, out: str, storage: Storage, settings: Settings, grant: Grant
) -> BatchWork:
    """The batch file's entries with the pipeline's defaults filled in, or BadInput naming the entry at fault.

    `grant`: what the batch file may name (the pipeline's, whatever a sidecar changed).
    """
    name = PurePosixPath(key).name
    unit, items = within(settings.parse_seconds, parsing.batch_entries, data, name, what=name)
    with tempfile.TemporaryDirectory(prefix="narrate-batch-") as folder:
        fetch = Fetched(storage, Path(folder), grant=grant, inside=pipeline.inbox)
        completed = [
            (number, _completed(raw, f"{name}: {unit} {number}", pipeline=pipeline, out=out, fetch=fetch))
            for number, raw in items
        ]
        # Alone in its folder: a voice name is looked up there as a clip first, and finds nothing but the batch file.
        path = Path(folder) / "batch" / local_name(key)
        path.parent.mkdir()
        path.write_text(written(completed, jsonl=unit == "line"), encoding="utf-8")
        synthesis = synthesis_from(f"pipeline {pipeline.name}", latency=pipeline.latency, speed=pipeline.speed)
        try:
            work = within(
                settings.parse_seconds,
                parsing.batch_work,
                settings,
                str(path),
                preset=pipeline.preset,
                chapters=ChapterChoice.parse(pipeline.chapters),
                synthesis=synthesis,
                qc=pipeline.qc or NOT_ASKED,
                what=name,
            )
        except BadInput as exc:
            raise BadInput(fetch.named(str(exc))) from None
    return BatchWork(name=name, work=work)


class PartlySent(Exception):
    """Some of a batch file's entries went out before one could not: those sent must still be tracked and paid for."""

    def __init__(self, items: list[dict[str, Any]], *, cause: Exception) -> None:
        super().__init__(str(cause))
        self.items, self.cause = items, cause


def submit_batch(
    pipeline: Pipeline,
    batch: BatchWork,
    *,
    books: BookSubmitter,
    settings: Settings,
    already: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Send each entry not in `already` (tags sent or rendered before); every book's estimate is checked first.

    Each item carries its entry's `tag` and text `bytes`. A failure after the first
    entry went out raises PartlySent with the items sent, so none goes untracked.
    """
    check_buckets(settings, batch.work.outputs)
    if pipeline.budget is not None:
        _check_budget(batch, budget=pipeline.budget, books=books)
    items: list[dict[str, Any]] = []  # what went out, filled as it goes: a failure part-way must report it
    try:
        estimated = _send_books(batch.work, items, notify=pipeline.notify, books=books, already=already)
        _send_jobs(batch.work, items, notify=pipeline.notify, settings=settings, already=already)
    except Exception as exc:
        if items:
            raise PartlySent(items, cause=exc) from exc
        raise
    return {"kind": BATCH_KIND, "items": items, "estimated_cost_usd": round(estimated, 6)}


def _check_budget(batch: BatchWork, *, budget: float, books: BookSubmitter) -> None:
    """No book of the batch file may be estimated over the pipeline's budget: checked before any is sent."""
    for entry in batch.work.books:
        cost = books.estimate(books.plan(entry.book, **entry.submit_options()))
        if cost.total_cost_usd > budget:
            heard = "" if cost.qc == "off" else f" (hearing with qc {cost.qc} included)"
            raise BadInput(
                f"{batch.name}: {entry.book.source}: the estimate is ${cost.total_cost_usd:.2f}{heard}, over the"
                f" pipeline's budget ${budget:.2f}; raise `budget` or split the book"
            )


def _send_books(
    work: Work, items: list[dict[str, Any]], *, notify: str | None, books: BookSubmitter, already: frozenset[str]
) -> float:
    """Each book not sent before, added to `items` as it goes; what they are estimated to cost."""
    estimated = 0.0
    for index, entry in enumerate(work.books):
        if f"book:{index}" in already:
            continue
        plan, cost = books.submit(entry.book, notify_url=notify, **entry.submit_options())
        size = sum(len(chapter.text.encode("utf-8")) for chapter in entry.book.chapters)
        items.append({"tag": f"book:{index}", "kind": "book", "id": plan.book_id, "bytes": size})
        estimated += cost.total_cost_usd
    return estimated


def _send_jobs(
    work: Work, items: list[dict[str, Any]], *, notify: str | None, settings: Settings, already: frozenset[str]
) -> None:
    """Each group's jobs not sent before, in bulk, added to `items`."""
    for group in work.job_groups.values():
        unsent = [(p, s) for p, s in zip(group.positions, group.sources) if f"job:{p}" not in already]
        if not unsent:
            continue
        sent = group.send(Submitter.from_settings(settings), [s for _, s in unsent], notify=notify)
        items += [
            {"tag": f"job:{p}", "kind": "job", "id": job.job_id, "bytes": len(s.text.encode("utf-8"))}
            for (p, s), job in zip(unsent, sent)
        ]


def _completed(raw: Any, where: str, *, pipeline: Pipeline, out: str, fetch: Fetched) -> Any:
    if not isinstance(raw, dict):
        return raw  # the batch file reader says what an entry must look like
    entry = localised(raw, where, fetch=fetch)
    if pipeline.lexicon:  # the pipeline's lexicons first (the operator's: trusted), then the entry's own
        own = entry.get("lexicon", [])
        entry["lexicon"] = [
            fetch.local(url, where=f"pipeline {pipeline.name}: `lexicon`", trusted=True) for url in pipeline.lexicon
        ] + (own if isinstance(own, list) else [own])
    if (
        isinstance(entry.get("out"), str)
        and pipeline.inbox
        and (entry["out"].rstrip("/") + "/").startswith(pipeline.inbox.rstrip("/") + "/")
    ):
        raise Refused(
            f"{where}: `out`: {entry['out']} lies inside the inbox {pipeline.inbox}: its audio would be taken as"
            " new files; write it elsewhere",
            entry["out"],
        )
    if "voice" not in entry and "voice_id" not in entry:
        entry.update(_pipeline_voice(pipeline, fetch))
    is_book = "file" in entry
    if "out" not in entry:
        entry["out"] = f"{out.rstrip('/')}/{Path(str(entry['file'])).stem}/" if is_book else out
    if "format" not in entry and not (is_book and pipeline.preset):
        entry["format"] = pipeline.format
    if is_book and "chapters" not in entry and pipeline.chapters:
        entry["chapters"] = pipeline.chapters
    return entry


def _pipeline_voice(pipeline: Pipeline, fetch: Fetched) -> dict[str, str]:
    """The pipeline's voice (or its sidecar's, checked when the sidecar was read)."""
    if pipeline.voice_id:
        return {"voice_id": pipeline.voice_id}
    if pipeline.voice:
        return {"voice": pipeline.voice}
    clip = fetch.local(pipeline.clip or "", where=f"pipeline {pipeline.name}: `clip`", trusted=True)
    return {"voice": clip, "transcript": pipeline.transcript or ""}
