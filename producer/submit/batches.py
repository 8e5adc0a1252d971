"""Books and batch files submitted together: everything read and checked first, then sent.

Batch file jobs sharing a voice, an output and a format go out through one
`Submitter.submit` (records and messages in bulk); each distinct voice is
prepared once however many entries name it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory

from producer.readers.batch import BATCH_SUFFIXES, batch_items, read_placed_batch
from producer.readers.batch_entry import BatchEntry, VoiceKey
from producer.readers.books import decode_text, read_book
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice, choose
from producer.submit.batch_work import BookWork, Work
from producer.submit.clips import NamedVoice, PreparedVoice
from producer.submit.grant import Grant
from producer.submit.jobs import Submitter, parse_out
from producer.submit.lexicons import Lexicons, read_lexicon_files
from producer.submit.read_along import ReadAlongSource
from producer.submit.references import Fetched, localised, written
from producer.submit.synthesis import synthesis_from
from producer.submit.voice_options import voice_from_options
from worker.contract import RenderJob, Synthesis
from worker.errors import BadInput, StorageRejected
from worker.settings import Settings
from worker.storage import Storage

log = logging.getLogger("narrate.submit")


class Voices:
    """Each distinct voice prepared once (a clip read, probed and hashed once), however many entries name it."""

    def __init__(self, settings: Settings, *, warn: Callable[[str], None] = log.warning) -> None:
        self._settings = settings
        self._warn = warn  # the CLI prints them; a service logs them
        self._ready: dict[VoiceKey, PreparedVoice | NamedVoice | str] = {}

    def get(self, key: VoiceKey, *, where: str | None = None) -> PreparedVoice | NamedVoice | str:
        if key not in self._ready:
            voice, transcript, transcript_file, voice_id = key
            try:
                chosen = voice_from_options(
                    self._settings,
                    voice=voice,
                    transcript=transcript,
                    transcript_file=transcript_file,
                    voice_id=voice_id,
                )
            except BadInput as exc:
                raise BadInput(f"{where}: {exc}" if where else str(exc)) from exc
            for warning in chosen.warnings if isinstance(chosen, PreparedVoice) else []:
                self._warn(warning)
            self._ready[key] = chosen
        return self._ready[key]


def plan_work(
    settings: Settings,
    paths: list[str],
    *,
    out: str | None,
    fmt: str | None,
    cli_voice: VoiceKey,
    preset: str | None = None,
    chapters: ChapterChoice = ChapterChoice(),
    synthesis: Synthesis = Synthesis(),
    lexicons: Lexicons = Lexicons(),
    grant: Grant = Grant(),
    warn: Callable[[str], None] = log.warning,
    qc: QcChoice = NOT_ASKED,
    read_along: bool = False,
) -> Work:
    """Read every batch file and book and prepare every voice; a BadInput here means nothing was sent.

    `synthesis`, `lexicons`, `qc`: the command line's; an entry's own win over them. `grant`: what a batch file's
    entries may name (`narrate submit --sources`); a restricted one also lets them name s3:// files.
    """
    planner = _Planner(
        settings,
        Voices(settings, warn=warn),
        out=out,
        fmt=fmt,
        cli_voice=cli_voice,
        preset=preset,
        chapters=chapters,
        synthesis=synthesis,
        lexicons=lexicons,
        qc=qc,
        read_along=read_along,
    )
    with ExitStack() as stack:  # the folders of rewritten batch files, kept until every path is read
        for path in paths:
            if Path(path).suffix.lower() not in BATCH_SUFFIXES:
                planner.add_book(path)
                continue
            # every reference checked, and S3 ones fetched, before the batch file is read as a local one
            if grant.restricted:
                folder = Path(stack.enter_context(TemporaryDirectory(prefix="narrate-")))
                path = granted_batch(settings, path, grant=grant, folder=folder)
            planner.add_batch_file(path)
    return planner.work


@dataclass
class _Planner:
    """The work planned so far, and what the command line gives every book and entry (an entry's own win)."""

    settings: Settings
    voices: Voices
    out: str | None
    fmt: str | None
    cli_voice: VoiceKey
    preset: str | None
    chapters: ChapterChoice
    synthesis: Synthesis
    lexicons: Lexicons
    qc: QcChoice = NOT_ASKED
    read_along: bool = False  # the command line's --read-along
    work: Work = field(default_factory=Work)

    def add_book(self, path: str) -> None:
        """A book named on the command line: read now, in the command line's voice, output and settings."""
        self.work.books.append(
            BookWork(
                read_book(path),
                self.voices.get(self.cli_voice),
                self.out,  # type: ignore[arg-type]
                self.fmt,
                preset=self.preset,
                chapters=self.chapters,
                synthesis=self.synthesis,
                lexicons=self.lexicons,
                qc=self.qc,
                read_along=ReadAlongSource.of(path) if self.read_along else None,
            )
        )
        self.work.outputs.setdefault(self.out, path)  # type: ignore[arg-type]

    def add_batch_file(self, path: str) -> None:
        for where, entry in read_placed_batch(path, max_text_bytes=self.settings.max_text_bytes):
            chosen = self.voices.get(entry.voice_key, where=where)
            synthesis = self.synthesis.merged(synthesis_from(where, **entry.synthesis_values()))
            lexicons = self.lexicons + read_lexicon_files(entry.lexicon, where=f"{where}: `lexicon`")
            qc = entry.qc.over(self.qc) if entry.qc else self.qc
            self.work.outputs.setdefault(entry.out, where)
            if entry.is_job:
                if entry.read_along:
                    raise BadInput(f"{where}: `read_along` is for books (a `file`); a `text` entry is one job")
                self.work.add_job(entry, chosen, synthesis, lexicons, qc)
            else:
                self._add_entry_book(entry, chosen, synthesis=synthesis, lexicons=lexicons, qc=qc)

    def _add_entry_book(
        self,
        entry: BatchEntry,
        voice: PreparedVoice | NamedVoice | str,
        *,
        synthesis: Synthesis,
        lexicons: Lexicons,
        qc: QcChoice,
    ) -> None:
        """Read now: an unreadable, DRM-protected or empty book is refused before anything is sent."""
        choice = ChapterChoice.parse(entry.chapters, include_front_matter=entry.include_front_matter)
        book = BookWork(
            read_book(str(entry.file)),
            voice,
            entry.out,
            entry.format,
            entry.title,
            entry.preset or self.preset,
            choice,
            synthesis,
            lexicons,
            qc,
            read_along=ReadAlongSource.of(entry.file) if _or(entry.read_along, self.read_along) else None,
        )
        choose(book.book, choice)  # a chapter number past the end is refused now, before anything is sent
        self.work.books.append(book)


def granted_batch(settings: Settings, path: str, *, grant: Grant, folder: Path) -> str:
    """The batch file at `path` rewritten in `folder`: its references held to `grant`, its S3 objects fetched there."""
    source = Path(path)
    try:
        unit, items = batch_items(decode_text(source.read_bytes(), source.name), source.name)
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror}); check the path and its permissions") from exc
    fetch = Fetched(Storage.from_settings(settings), folder, grant=grant, base=source.resolve().parent)
    entries = [
        (number, localised(raw, f"{source.name}: {unit} {number}", fetch=fetch) if isinstance(raw, dict) else raw)
        for number, raw in items
    ]
    rewritten = folder / "batch" / source.name  # alone in its folder: a voice name finds no clip beside it
    rewritten.parent.mkdir()
    rewritten.write_text(written(entries, jsonl=unit == "line"), encoding="utf-8")
    return str(rewritten)


def check_buckets(settings: Settings, outputs: dict[str, str]) -> None:
    """Every output's bucket, checked before the first book or job is sent.

    A bad one found later would leave the rest half-submitted.
    """
    buckets: dict[str, str] = {}
    for url, where in outputs.items():
        try:
            bucket, _ = parse_out(url)
        except BadInput as exc:
            raise BadInput(f"{where}: {exc}") from exc
        buckets.setdefault(bucket, where)
    storage = Storage.from_settings(settings)
    for bucket, where in buckets.items():
        try:
            storage.check_bucket(bucket)
        except StorageRejected as exc:
            raise BadInput(f"{where}: {exc}") from exc


def submit_job_groups(
    settings: Settings, work: Work, *, notify: str | None = None, notify_batch: str | None = None
) -> list[RenderJob]:
    """One `Submitter.submit` per group; the jobs come back in batch file order.

    `notify`: each job's webhook; `notify_batch`: one webhook once every job of every group has ended.
    """
    if not work.job_groups:
        return []
    submitter = Submitter.from_settings(settings)
    batch = submitter.open_batch(notify_batch) if notify_batch else None
    placed: dict[int, RenderJob] = {}
    for group in work.job_groups.values():
        jobs = group.send(submitter, group.sources, notify=notify, notify_batch=batch)
        placed.update(zip(group.positions, jobs))
    if batch:
        batch.seal()
    return [placed[position] for position in range(work.job_count)]


def _or(entry: bool | None, command_line: bool) -> bool:
    return command_line if entry is None else entry
