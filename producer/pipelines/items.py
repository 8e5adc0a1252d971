"""One source's words read and sent: a text as a job, Markdown or EPUB as a book, a batch file as its entries."""

from __future__ import annotations

import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from producer.pipelines import parsing
from producer.pipelines.batches import BatchWork, is_batch_file, read_batch_object, submit_batch
from producer.pipelines.boundary import grant_for
from producer.pipelines.bounded import within
from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.voices import voice_of
from producer.readers.booktext import BookText
from producer.readers.quality import NOT_ASKED
from producer.readers.selection import ChapterChoice
from producer.readers.text import TextSource
from producer.submit.grant import Grant
from producer.submit.lexicons import fetched_lexicons
from producer.submit.read_along import ReadAlongSource
from producer.submit.references import local_name
from producer.submit.synthesis import synthesis_from
from worker.errors import BadInput

JOB_SUFFIXES = (".txt",)
BOOK_SUFFIXES = (".md", ".markdown", ".epub")
Item = TextSource | BookText | BatchWork


def is_source(key: str) -> bool:
    return key.lower().endswith(JOB_SUFFIXES + BOOK_SUFFIXES) or is_batch_file(key)


def submit_object(pipeline: Pipeline, key: str, data: bytes, *, out: str, ctx: InboxContext) -> dict[str, Any]:
    """Submit one object's words: a text as a job, Markdown or EPUB as a book, a batch file as its entries."""
    item = read_object(pipeline, key, data, out=out, ctx=ctx, grant=grant_for(pipeline))
    return submit_item(pipeline, item, out=out, ctx=ctx, source=ReadAlongSource(PurePosixPath(key).name, data))


def read_object(pipeline: Pipeline, key: str, data: bytes, *, out: str, ctx: InboxContext, grant: Grant) -> Item:
    """The object's words, or BadInput saying what is wrong with the file.

    Read in a child process stopped at NARRATE_PARSE_SECONDS.

    `grant`: what a batch file may name (the pipeline's own, not what a sidecar made of it).
    """
    name = PurePosixPath(key).name
    seconds = ctx.settings.parse_seconds
    if is_batch_file(key):
        return read_batch_object(pipeline, key, data, out=out, storage=ctx.storage, settings=ctx.settings, grant=grant)
    if key.lower().endswith(JOB_SUFFIXES):
        return within(seconds, parsing.text_source, data, name, what=name)
    with tempfile.TemporaryDirectory(prefix="narrate-inbox-") as folder:
        path = Path(folder) / local_name(key)
        path.write_bytes(data)
        try:
            return within(seconds, parsing.book_file, str(path), what=name)
        except BadInput as exc:
            raise BadInput(str(exc).replace(str(path), name)) from None  # the file's name, not its temporary copy's


def words_bytes(item: Item) -> int:
    if isinstance(item, BatchWork):
        return item.text_bytes
    if isinstance(item, TextSource):
        return len(item.text.encode("utf-8"))
    return sum(len(chapter.text.encode("utf-8")) for chapter in item.chapters)


def submit_item(
    pipeline: Pipeline,
    item: Item,
    *,
    out: str,
    ctx: InboxContext,
    already: frozenset[str] = frozenset(),
    source: ReadAlongSource | None = None,
) -> dict[str, Any]:
    """Send the item; `already`: tags of a batch file's entries sent or rendered before, not sent again; `source`:
    the file, for a book's read-along EPUB when the pipeline asks for one."""
    if isinstance(item, BatchWork):
        return submit_batch(pipeline, item, books=ctx.books, settings=ctx.settings, already=already)
    voice = voice_of(pipeline, voices=ctx.voices, storage=ctx.storage, prepared=ctx.clip_voices)
    synthesis = synthesis_from(f"pipeline {pipeline.name}", latency=pipeline.latency, speed=pipeline.speed)
    lexicons = fetched_lexicons(ctx.storage, pipeline.lexicon, where=f"pipeline {pipeline.name}: `lexicon`")
    if isinstance(item, TextSource):
        [job] = ctx.jobs.submit(
            sources=[item],
            voice=voice,
            out=out,
            fmt=pipeline.format,
            synthesis=synthesis,
            lexicons=lexicons,
            notify=pipeline.notify,
            qc=pipeline.qc or NOT_ASKED,
        )
        return {"kind": "job", "id": job.job_id}
    plan, cost = ctx.books.submit(
        item,
        voice=voice,
        out=out,
        fmt=None if pipeline.preset else pipeline.format,
        notify_url=pipeline.notify,
        budget_usd=pipeline.budget,
        preset=pipeline.preset,
        chapters=ChapterChoice.parse(pipeline.chapters),
        synthesis=synthesis,
        lexicons=lexicons,
        qc=pipeline.qc or NOT_ASKED,
        read_along=source if pipeline.read_along else None,
    )
    return {"kind": "book", "id": plan.book_id, "estimated_cost_usd": cost.total_cost_usd}
