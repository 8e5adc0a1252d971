"""`narrate`: submit narration jobs and follow them; run the local stack and the emulator.

Exit codes: 0 ok, 1 a job failed (or did not finish in time), 2 bad input.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Optional

import typer

from producer import book_cli, ops_cli, progress
from producer.console import EXIT_JOB_FAILED, console, errors, fail, settings_or_exit, warn
from producer.books import BookText
from producer.manifest import MANIFEST_SUFFIXES, ManifestEntry, VoiceKey, read_placed_manifest
from producer.sources import TextSource, read_text
from producer.voices_cli import voices_app
from producer.submit import ClipInput, NamedVoice, PreparedVoice, Submitter, check_format, parse_out, prepare_clip_voice
from producer.voices import VoiceBook
from worker.errors import BadInput, NarrateError, StorageRejected
from worker.jobs import RenderJob, job_schema
from worker.records import JobRecord, JobStore
from worker.settings import Settings
from worker.storage import Storage

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
app.add_typer(voices_app, name="voices")


@app.command()
def submit(
    files: Annotated[list[str], typer.Argument(help="Text files to narrate, one job each; '-' reads stdin.")],
    out: Annotated[Optional[str], typer.Option("--out", help="Where outputs go: s3://bucket[/prefix]; manifests name their own.")] = None,
    voice: Annotated[Optional[str], typer.Option("--voice", help="Reference clip (10-30 s of clean speech), or a voice NAME.")] = None,
    transcript: Annotated[Optional[str], typer.Option("--transcript", help="Exactly what the clip says.")] = None,
    transcript_file: Annotated[Optional[Path], typer.Option("--transcript-file", help="File holding the transcript.")] = None,
    voice_id: Annotated[Optional[str], typer.Option("--voice-id", help="An existing Fish voice id instead of a clip.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="mp3, wav or opus.")] = "mp3",
    notify: Annotated[Optional[str], typer.Option("--notify", help="Books: POST a signed JSON notice here when done.")] = None,
    budget: Annotated[Optional[float], typer.Option("--budget", help="Books: refuse one whose estimate exceeds this many USD.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Show progress until every job has finished.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job ids as JSON.")] = False,
) -> None:
    """Enqueue narration: one job per text file; .epub and .md become audiobooks; .jsonl/.yaml manifests list many."""
    settings = settings_or_exit()
    if out is None and not all(Path(f).suffix.lower() in MANIFEST_SUFFIXES for f in files):
        fail("--out is required: where the audio goes, e.g. --out s3://my-bucket/book (only manifests name their own)")
    books = [f for f in files if book_cli.is_book(f) or Path(f).suffix.lower() in MANIFEST_SUFFIXES]
    if books:
        _submit_books(settings, books, others=[f for f in files if f not in books], out=out, fmt=fmt, notify=notify, budget=budget,
                      cli_voice=(voice, transcript, transcript_file, voice_id), wait=wait, as_json=as_json)  # fmt: skip
        return
    try:
        check_format(fmt)
        parse_out(out)
        chosen_voice = _voice_from_options(
            settings, voice=voice, transcript=transcript, transcript_file=transcript_file, voice_id=voice_id
        )
        sources = [read_text(path) for path in files]
        if isinstance(chosen_voice, PreparedVoice):
            for warning in chosen_voice.warnings:
                warn(warning)
        jobs = Submitter.from_settings(settings).submit(sources=sources, voice=chosen_voice, out=out, fmt=fmt)
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    _print_jobs(jobs, as_json=as_json)
    if wait:
        _wait_and_report(settings, [job.job_id for job in jobs], timeout=None, as_json=False)


def _submit_books(settings: Settings, books: list[str], *, others: list[str], out: str | None, fmt: str, notify: str | None,
                  budget: float | None, cli_voice: VoiceKey, wait: bool, as_json: bool) -> None:  # fmt: skip
    """Books and manifests: every book and job is checked (read, voiced, planned) before the first is submitted."""
    if others:
        fail("submit text files and books separately: " + ", ".join(others) + " are plain text jobs")
    started = time.perf_counter()
    try:
        work = _plan(settings, books, out=out, fmt=fmt, cli_voice=cli_voice)
        _check_buckets(settings, work.outputs)
        if work.books:
            submitter = book_cli.BookSubmitter.from_settings(settings)
            for book, chosen, target, entry_format, title in work.books:
                book_cli.submit_book(submitter, book, voice=chosen, out=target, fmt=entry_format, notify=notify, budget=budget,
                                     pauses=book_cli.Pauses(), title=title)  # fmt: skip
        jobs = _submit_job_groups(settings, work)
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    if not jobs:
        return
    _print_jobs(jobs, as_json=as_json)
    # stderr, so stdout stays the ids (or the JSON) alone
    errors.print(f"queued {len(jobs):,} job{'s' if len(jobs) != 1 else ''} in {time.perf_counter() - started:.1f} s", highlight=False)
    if wait:
        _wait_and_report(settings, [job.job_id for job in jobs], timeout=None, as_json=False)


@dataclass
class _JobGroup:
    """Manifest jobs sharing a voice, an output and a format: sent by one `Submitter.submit`, records and messages in bulk."""

    voice: PreparedVoice | NamedVoice | str
    out: str
    fmt: str
    sources: list[TextSource] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # each job's place in the manifests, to print ids in that order


@dataclass
class _Work:
    """Everything one `narrate submit` of books and manifests will send, read and checked; nothing sent yet."""

    books: list[tuple[BookText, PreparedVoice | NamedVoice | str, str, str, str | None]] = field(default_factory=list)
    job_groups: dict[tuple[VoiceKey, str, str], _JobGroup] = field(default_factory=dict)
    job_count: int = 0
    outputs: dict[str, str] = field(default_factory=dict)  # output URL -> where it is first named, for error messages

    def add_job(self, entry: ManifestEntry, voice: PreparedVoice | NamedVoice | str) -> None:
        key = (entry.voice_key, entry.out, entry.format)
        group = self.job_groups.get(key)
        if group is None:
            group = self.job_groups[key] = _JobGroup(voice=voice, out=entry.out, fmt=entry.format)
        group.sources.append(TextSource(name=entry.title or "manifest job", text=entry.text or ""))
        group.positions.append(self.job_count)
        self.job_count += 1


class _Voices:
    """Each distinct voice prepared once (a clip read, probed and hashed once), however many entries name it."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._ready: dict[VoiceKey, PreparedVoice | NamedVoice | str] = {}

    def get(self, key: VoiceKey, *, where: str | None = None) -> PreparedVoice | NamedVoice | str:
        if key not in self._ready:
            voice, transcript, transcript_file, voice_id = key
            try:
                chosen = _voice_from_options(self._settings, voice=voice, transcript=transcript, transcript_file=transcript_file, voice_id=voice_id)  # fmt: skip
            except BadInput as exc:
                raise BadInput(f"{where}: {exc}" if where else str(exc)) from exc
            for warning in chosen.warnings if isinstance(chosen, PreparedVoice) else []:
                warn(warning)
            self._ready[key] = chosen
        return self._ready[key]


def _plan(settings: Settings, paths: list[str], *, out: str | None, fmt: str, cli_voice: VoiceKey) -> _Work:
    """Read every manifest and book and prepare every voice; a BadInput here means nothing was sent."""
    voices = _Voices(settings)
    work = _Work()
    for path in paths:
        if Path(path).suffix.lower() not in MANIFEST_SUFFIXES:
            work.books.append((book_cli.read_book(path), voices.get(cli_voice), out, fmt, None))
            work.outputs.setdefault(out, path)
            continue
        for where, entry in read_placed_manifest(path, max_text_bytes=settings.max_text_bytes):
            chosen = voices.get(entry.voice_key, where=where)
            work.outputs.setdefault(entry.out, where)
            if entry.is_job:
                work.add_job(entry, chosen)
            else:
                # read now: an unreadable, DRM-protected or empty book is refused before anything is sent
                work.books.append((book_cli.read_book(str(entry.file)), chosen, entry.out, entry.format, entry.title))
    return work


def _check_buckets(settings: Settings, outputs: dict[str, str]) -> None:
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


def _submit_job_groups(settings: Settings, work: _Work) -> list[RenderJob]:
    """One `Submitter.submit` per group; the jobs come back in manifest order."""
    if not work.job_groups:
        return []
    submitter = Submitter.from_settings(settings)
    placed: dict[int, RenderJob] = {}
    for group in work.job_groups.values():
        jobs = submitter.submit(sources=group.sources, voice=group.voice, out=group.out, fmt=group.fmt)
        placed.update(zip(group.positions, jobs))
    return [placed[position] for position in range(work.job_count)]


def _print_jobs(jobs: list[RenderJob], *, as_json: bool) -> None:
    """Each job's id and title, one line each, or `{"jobs": [...]}`; written at once: thousands of lines stay fast."""
    if as_json:
        print(json.dumps({"jobs": [{"job_id": job.job_id, "title": job.title} for job in jobs]}))
    else:
        sys.stdout.write("".join(f"{job.job_id}  {job.title}\n" for job in jobs))
        sys.stdout.flush()


def _voice_from_options(
    settings: Settings, *, voice: str | None, transcript: str | None, transcript_file: Path | None, voice_id: str | None
) -> PreparedVoice | NamedVoice | str:
    if voice_id and voice:
        raise BadInput("pass either --voice (a clip) or --voice-id (an existing Fish voice), not both")
    if voice_id:
        if transcript or transcript_file:
            raise BadInput("--transcript goes with --voice, not with --voice-id")
        return voice_id
    if voice is None:
        raise BadInput("no voice: pass --voice REF.wav with --transcript, --voice NAME, or --voice-id ID")
    if not Path(voice).exists():
        named = VoiceBook.from_settings(settings).named(voice)
        if named is None:
            raise BadInput(f"--voice {voice}: no such file, and no voice registered under that name (see `narrate voices list`)")
        if transcript or transcript_file:
            raise BadInput(f"--voice {voice} is a named voice: its clips carry their own transcripts")
        return named
    if transcript and transcript_file:
        raise BadInput("pass either --transcript or --transcript-file, not both")
    if transcript_file is not None:
        try:
            transcript = transcript_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--transcript-file {transcript_file}: cannot be read as UTF-8 text ({exc})") from exc
    if not transcript or not transcript.strip():
        raise BadInput("the transcript is empty: pass the exact words of the clip with --transcript or --transcript-file")
    return prepare_clip_voice([ClipInput(path=Path(voice), transcript=transcript)])


book_cli.register(app, settings_or_exit=settings_or_exit, voice_from_options=_voice_from_options)
ops_cli.register(app, settings_or_exit=settings_or_exit)


@app.command()
def status(
    job_ids: Annotated[list[str], typer.Argument(help="Job ids printed by `narrate submit`.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the records as JSON.")] = False,
) -> None:
    """Show each job's (or book's) state, attempts, voice mode, output or error."""
    settings = settings_or_exit()
    book_state = book_cli.BookState.from_url(settings.broker_url)
    books = [b for b in (book_state.get(job_id) for job_id in job_ids) if b is not None]
    if books:
        if as_json:
            print(json.dumps(books if len(job_ids) > 1 else books[0], indent=2))
        else:
            for book in books:
                console.print(book_cli.book_table(book))
        if any(b.get("state") == "failed" for b in books):
            raise typer.Exit(EXIT_JOB_FAILED)
        return
    try:
        records = progress.fetch(JobStore.from_url(settings.broker_url), job_ids)
    except progress.UnknownJobs as exc:
        fail(str(exc))
    notice = ops_cli.breaker_notice(settings.broker_url)
    if notice:
        warn(notice)
    _report(records, as_json=as_json, failed=any(record.state == "failed" for record in records))


@app.command()
def wait(
    job_ids: Annotated[list[str], typer.Argument(help="Job ids printed by `narrate submit`.")],
    timeout: Annotated[Optional[float], typer.Option("--timeout", help="Give up after this many seconds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the final records as JSON.")] = False,
) -> None:
    """Wait for jobs to finish, with a progress bar; exit 1 if any failed or timed out."""
    _wait_and_report(settings_or_exit(), job_ids, timeout=timeout, as_json=as_json)


def _wait_and_report(settings: Settings, job_ids: list[str], *, timeout: float | None, as_json: bool) -> None:
    store = JobStore.from_url(settings.broker_url)
    try:
        records = progress.wait_for(store, job_ids, console=errors if as_json else console, timeout=timeout)
    except progress.UnknownJobs as exc:
        fail(str(exc))
    _report(records, as_json=as_json, failed=not all(record.state == "succeeded" for record in records))


def _report(records: list[JobRecord], *, as_json: bool, failed: bool) -> None:
    if as_json:
        print(json.dumps([record.model_dump() for record in records], indent=2))
    else:
        console.print(progress.records_table(records))
    if failed:
        raise typer.Exit(EXIT_JOB_FAILED)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a `narrate.render` job message."""
    print(json.dumps(job_schema(), indent=2))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def emulator(ctx: typer.Context) -> None:
    """Run the Fish API emulator (a development and test tool): --port --latency --concurrency
    --train-seconds --fail-rate --fail-training --rate-limit-rate --stall-rate --stall-seconds --seed
    --credit --tone-mode --api-key; `narrate emulator --help` lists them all."""
    from worker.emulator.__main__ import parse_args
    from worker.emulator.server import serve

    # One definition of the flags: the emulator's own parser, also behind `python -m worker.emulator`.
    serve(parse_args(list(ctx.args)))


@app.command()
def dev(
    files: Annotated[Optional[list[str]], typer.Argument(help="Text files to render (default: the bundled sample).")] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where rendered audio is saved.")] = Path("out"),
    fmt: Annotated[str, typer.Option("--format", help="mp3, wav or opus.")] = "mp3",
    voice: Annotated[Optional[Path], typer.Option("--voice", help="Reference clip (default: a generated one).")] = None,
    transcript: Annotated[Optional[str], typer.Option("--transcript", help="Exactly what --voice says.")] = None,
    emulator_latency: Annotated[float, typer.Option(help="Seconds the emulator adds per request, to mimic the cloud.")] = 0.0,
) -> None:
    """Start Redis, S3, the emulator (unless FISH_API_KEY is set) and a worker; render; stop all."""
    from producer.dev import run_dev

    code = run_dev(
        files=files or [], out_dir=out_dir, fmt=fmt, voice=voice, transcript=transcript,
        emulator_latency=emulator_latency, console=console, errors=errors,
    )  # fmt: skip
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - console-script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
