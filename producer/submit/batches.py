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
from producer.readers.books import BookText, decode_text, read_book
from producer.readers.selection import ChapterChoice, choose
from producer.readers.text import TextSource
from producer.submit.clips import NamedVoice, PreparedVoice
from producer.submit.grant import Grant
from producer.submit.jobs import Submitter, parse_out
from producer.submit.lexicons import Lexicons, read_lexicon_files
from producer.submit.references import Fetched, localised, written
from producer.submit.synthesis import synthesis_from
from producer.submit.voice_options import voice_from_options
from worker.contract import RenderJob, Synthesis
from worker.errors import BadInput, StorageRejected
from worker.settings import Settings
from worker.storage import Storage

log = logging.getLogger("narrate.submit")


@dataclass
class JobGroup:
    """Batch file jobs sharing a voice, an output and a format: sent by one `Submitter.submit`, records and messages in bulk."""

    voice: PreparedVoice | NamedVoice | str
    out: str
    fmt: str
    synthesis: Synthesis = Synthesis()
    lexicons: Lexicons = Lexicons()
    sources: list[TextSource] = field(default_factory=list)
    # each job's place in the batch files, to print ids in that order
    positions: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class BookWork:
    """One book to submit, read and voiced."""

    book: BookText
    voice: PreparedVoice | NamedVoice | str
    out: str
    fmt: str | None
    title: str | None = None
    preset: str | None = None
    chapters: ChapterChoice = ChapterChoice()
    synthesis: Synthesis = Synthesis()
    lexicons: Lexicons = Lexicons()


@dataclass
class Work:
    """Everything one `narrate submit` of books and batch files will send, read and checked; nothing sent yet."""

    books: list[BookWork] = field(default_factory=list)
    job_groups: dict[tuple[VoiceKey, str, str, Synthesis, Lexicons], JobGroup] = field(default_factory=dict)
    job_count: int = 0
    outputs: dict[str, str] = field(default_factory=dict)  # output URL -> where it is first named, for error messages

    def add_job(
        self, entry: BatchEntry, voice: PreparedVoice | NamedVoice | str, synthesis: Synthesis, lexicons: Lexicons
    ) -> None:
        key = (entry.voice_key, entry.out, entry.format, synthesis, lexicons)
        group = self.job_groups.get(key)
        if group is None:
            group = self.job_groups[key] = JobGroup(
                voice=voice, out=entry.out, fmt=entry.format, synthesis=synthesis, lexicons=lexicons
            )
        group.sources.append(TextSource(name=entry.title or "batch file job", text=entry.text or ""))
        group.positions.append(self.job_count)
        self.job_count += 1


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
) -> Work:
    """Read every batch file and book and prepare every voice; a BadInput here means nothing was sent.

    `synthesis`, `lexicons`: the command line's; an entry's own win over them. `grant`: what a batch file's
    entries may name (`narrate submit --sources`); a restricted one also lets them name s3:// files.
    """
    with ExitStack() as stack:
        return _plan_work(
            settings,
            paths,
            out=out,
            fmt=fmt,
            cli_voice=cli_voice,
            preset=preset,
            chapters=chapters,
            synthesis=synthesis,
            lexicons=lexicons,
            grant=grant,
            stack=stack,
            warn=warn,
        )


def _plan_work(
    settings: Settings,
    paths: list[str],
    *,
    out: str | None,
    fmt: str | None,
    cli_voice: VoiceKey,
    preset: str | None,
    chapters: ChapterChoice,
    synthesis: Synthesis,
    lexicons: Lexicons,
    grant: Grant,
    stack: ExitStack,
    warn: Callable[[str], None],
) -> Work:
    voices = Voices(settings, warn=warn)
    work = Work()
    for path in paths:
        if Path(path).suffix.lower() not in BATCH_SUFFIXES:
            work.books.append(
                BookWork(
                    read_book(path),
                    voices.get(cli_voice),
                    out,
                    fmt,
                    preset=preset,
                    chapters=chapters,
                    synthesis=synthesis,
                    lexicons=lexicons,
                )
            )  # type: ignore[arg-type]
            work.outputs.setdefault(out, path)
            continue
        # every reference checked, and S3 ones fetched, before the batch file is read as a local one
        if grant.restricted:
            path = granted_batch(
                settings, path, grant=grant, folder=Path(stack.enter_context(TemporaryDirectory(prefix="narrate-")))
            )
        for where, entry in read_placed_batch(path, max_text_bytes=settings.max_text_bytes):
            chosen = voices.get(entry.voice_key, where=where)
            settings_here = synthesis.merged(synthesis_from(where, **entry.synthesis_values()))
            lexicons_here = lexicons + read_lexicon_files(entry.lexicon, where=f"{where}: `lexicon`")
            work.outputs.setdefault(entry.out, where)
            if entry.is_job:
                work.add_job(entry, chosen, settings_here, lexicons_here)
            else:
                # read now: an unreadable, DRM-protected or empty book is refused before anything is sent
                choice = ChapterChoice.parse(entry.chapters, include_front_matter=entry.include_front_matter)
                book = BookWork(
                    read_book(str(entry.file)),
                    chosen,
                    entry.out,
                    entry.format,
                    entry.title,
                    entry.preset or preset,
                    choice,
                    settings_here,
                    lexicons_here,
                )
                choose(book.book, choice)  # a chapter number past the end is refused now, before anything is sent
                work.books.append(book)
    return work


def granted_batch(settings: Settings, path: str, *, grant: Grant, folder: Path) -> str:
    """The batch file at `path` rewritten in `folder` with its references held to `grant` and its S3 objects fetched there."""
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
    """Every output's bucket must exist before the first book or job is sent, or a bad one would leave the rest half-submitted."""
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
        jobs = submitter.submit(
            sources=group.sources,
            voice=group.voice,
            out=group.out,
            fmt=group.fmt,
            synthesis=group.synthesis,
            lexicons=group.lexicons,
            notify=notify,
            notify_batch=batch,
        )
        placed.update(zip(group.positions, jobs))
    if batch:
        batch.seal()
    return [placed[position] for position in range(work.job_count)]
