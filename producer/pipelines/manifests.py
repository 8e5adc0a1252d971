"""A manifest dropped into an inbox (or rendered on schedule): its entries become jobs and books.

Each entry is what `narrate submit books.jsonl` reads, with the pipeline filling
what the entry leaves out: the voice (the pipeline's, or its sidecar's), the
format, the preset, the chapters, and the output, `<out>/<manifest stem>/` for a
job and `<out>/<manifest stem>/<book stem>/` for a book. Paths are S3 URLs here
(`file`, `transcript_file`, a `voice` clip), fetched once each; a book the
manifest names must lie outside the inbox, or the scan would render it on its
own as well. Everything is read and checked, budgets included, before the first
entry is sent.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from producer.pipelines.config import Pipeline
from producer.pipelines.localfiles import local_name
from producer.readers.books import decode_text
from producer.readers.manifest import MANIFEST_SUFFIXES, manifest_items
from producer.readers.selection import ChapterChoice
from producer.submit.books import BookSubmitter
from producer.submit.jobs import Submitter, parse_out
from producer.submit.manifests import Work, check_buckets, plan_work
from producer.submit.synthesis import synthesis_from
from worker.errors import BadInput
from worker.settings import Settings
from worker.storage import Storage

PATH_FIELDS = ("file", "transcript_file")


def is_manifest(key: str) -> bool:
    return key.lower().endswith(MANIFEST_SUFFIXES)


@dataclass
class ManifestWork:
    """A manifest's entries, read and voiced; nothing sent yet."""

    name: str
    work: Work

    @property
    def text_bytes(self) -> int:
        jobs = sum(len(source.text.encode("utf-8")) for group in self.work.job_groups.values() for source in group.sources)
        books = sum(len(chapter.text.encode("utf-8")) for book in self.work.books for chapter in book.book.chapters)
        return jobs + books


def read_manifest_object(pipeline: Pipeline, key: str, data: bytes, *, out: str, storage: Storage, settings: Settings) -> ManifestWork:
    """The manifest's entries with the pipeline's defaults filled in, or BadInput naming the entry at fault."""
    name = PurePosixPath(key).name
    unit, items = manifest_items(decode_text(data, name), name)
    with tempfile.TemporaryDirectory(prefix="narrate-manifest-") as folder:
        fetch = _Fetch(storage, Path(folder), inbox=pipeline.inbox)
        completed = [(number, _completed(raw, f"{name}: {unit} {number}", pipeline=pipeline, out=out, fetch=fetch)) for number, raw in items]
        path = Path(folder) / local_name(key)
        path.write_text(_written(completed, jsonl=unit == "line"), encoding="utf-8")
        synthesis = synthesis_from(f"pipeline {pipeline.name}", latency=pipeline.latency, speed=pipeline.speed)
        try:
            work = plan_work(settings, [str(path)], out=None, fmt=None, cli_voice=(None, None, None, None), preset=pipeline.preset,
                             chapters=ChapterChoice.parse(pipeline.chapters), synthesis=synthesis)  # fmt: skip
        except BadInput as exc:
            raise BadInput(fetch.named(str(exc))) from None
    return ManifestWork(name=name, work=work)


class PartlySent(Exception):
    """Some of a manifest's entries went out before one could not: those sent must still be tracked and paid for."""

    def __init__(self, items: list[dict[str, Any]], *, cause: Exception) -> None:
        super().__init__(str(cause))
        self.items, self.cause = items, cause


def submit_manifest(
    pipeline: Pipeline, manifest: ManifestWork, *, books: BookSubmitter, settings: Settings, already: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Send every entry not in `already` (tags of entries sent or rendered before); each book's estimate is checked first.

    Each item carries its entry's `tag` and text `bytes`. A failure after the first
    entry went out raises PartlySent with the items sent, so none goes untracked.
    """
    work = manifest.work
    check_buckets(settings, work.outputs)
    if pipeline.budget is not None:
        for entry in work.books:
            plan = books.plan(entry.book, voice=entry.voice, out=entry.out, fmt=entry.fmt, title=entry.title, preset=entry.preset,
                              chapters=entry.chapters, synthesis=entry.synthesis, lexicons=entry.lexicons)  # fmt: skip
            cost = books.estimate(plan).uncached_cost_usd
            if cost > pipeline.budget:
                raise BadInput(f"{manifest.name}: {entry.book.source}: the estimate is ${cost:.2f}, over the pipeline's budget"
                               f" ${pipeline.budget:.2f}; raise `budget` or split the book")  # fmt: skip
    items: list[dict[str, Any]] = []
    estimated = 0.0
    try:
        for index, entry in enumerate(work.books):
            if f"book:{index}" in already:
                continue
            plan, cost = books.submit(entry.book, voice=entry.voice, out=entry.out, fmt=entry.fmt, notify_url=pipeline.notify,
                                      title=entry.title, preset=entry.preset, chapters=entry.chapters, synthesis=entry.synthesis,
                                      lexicons=entry.lexicons)  # fmt: skip
            size = sum(len(chapter.text.encode("utf-8")) for chapter in entry.book.chapters)
            items.append({"tag": f"book:{index}", "kind": "book", "id": plan.book_id, "bytes": size})
            estimated += cost.uncached_cost_usd
        for group in work.job_groups.values():
            unsent = [(p, s) for p, s in zip(group.positions, group.sources) if f"job:{p}" not in already]
            if not unsent:
                continue
            sent = Submitter.from_settings(settings).submit(sources=[s for _, s in unsent], voice=group.voice, out=group.out, fmt=group.fmt,
                                                            synthesis=group.synthesis, lexicons=group.lexicons)  # fmt: skip
            items += [{"tag": f"job:{p}", "kind": "job", "id": job.job_id, "bytes": len(s.text.encode("utf-8"))}
                      for (p, s), job in zip(unsent, sent)]  # fmt: skip
    except Exception as exc:
        if items:
            raise PartlySent(items, cause=exc) from exc
        raise
    return {"kind": "manifest", "items": items, "estimated_cost_usd": round(estimated, 6)}


def _completed(raw: Any, where: str, *, pipeline: Pipeline, out: str, fetch: _Fetch) -> Any:
    if not isinstance(raw, dict):
        return raw  # the manifest reader says what an entry must look like
    entry = dict(raw)
    for field in PATH_FIELDS:
        if isinstance(entry.get(field), str):
            entry[field] = fetch.local(entry[field], where=f"{where}: `{field}`", book=field == "file")
    own = entry.get("lexicon", [])
    urls = [*pipeline.lexicon, *([own] if isinstance(own, str) else own if isinstance(own, list) else [])]
    if urls:  # the pipeline's lexicons first, then the entry's own
        entry["lexicon"] = [fetch.local(url, where=f"{where}: `lexicon`") if isinstance(url, str) else url for url in urls]
    voice = entry.get("voice")
    if isinstance(voice, str) and voice.startswith("s3://"):
        entry["voice"] = fetch.local(voice, where=f"{where}: `voice`")
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


def _pipeline_voice(pipeline: Pipeline, fetch: _Fetch) -> dict[str, str]:
    if pipeline.voice_id:
        return {"voice_id": pipeline.voice_id}
    if pipeline.voice:
        return {"voice": pipeline.voice}
    return {"voice": fetch.local(pipeline.clip or "", where=f"pipeline {pipeline.name}: `clip`"), "transcript": pipeline.transcript or ""}


def _written(entries: list[tuple[int, Any]], *, jsonl: bool) -> str:
    """The completed entries as a manifest whose line (or entry) numbers are the original's, so messages point at the right place."""
    if not jsonl:
        return yaml.safe_dump([entry for _, entry in entries], allow_unicode=True, sort_keys=False)
    lines = [""] * (max((number for number, _ in entries), default=0))
    for number, entry in entries:
        lines[number - 1] = json.dumps(entry, ensure_ascii=False)
    return "\n".join(lines) + "\n"


class _Fetch:
    """S3 objects an inbox manifest names, downloaded once each into a temporary folder."""

    def __init__(self, storage: Storage, folder: Path, *, inbox: str | None) -> None:
        self._storage, self._folder, self._inbox = storage, folder, inbox
        self._local: dict[str, Path] = {}

    def local(self, url: str, *, where: str, book: bool = False) -> str:
        if not url.startswith("s3://"):
            raise BadInput(f"{where}: {url!r} is not an S3 URL; a manifest in a bucket names its files as s3://bucket/key")
        if book and self._inbox and url.startswith(self._inbox.rstrip("/") + "/"):
            raise BadInput(f"{where}: {url} lies inside the inbox {self._inbox}, so it would also be rendered on its own;"
                           " move it to a folder the inbox does not watch and name it there")  # fmt: skip
        if url not in self._local:
            bucket, key = parse_out(url)
            data = self._storage.get(bucket, key)
            if data is None:
                raise BadInput(f"{where}: {url} does not exist; upload it or fix the URL")
            path = self._folder / str(len(self._local)) / local_name(key)
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
            self._local[url] = path
        return str(self._local[url])

    def named(self, message: str) -> str:
        """A message about a fetched file, naming its S3 URL rather than the temporary copy."""
        for url, path in self._local.items():
            message = message.replace(str(path), url)
        return message.replace(str(self._folder) + "/", "")
