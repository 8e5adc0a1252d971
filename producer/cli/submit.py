"""`narrate submit`: text files become jobs; books, and batch files listing many, become audiobooks and jobs.

Everything named is read, voiced and planned before the first job or book is submitted.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from producer.cli import follow as follow_cli
from producer.cli import options
from producer.cli.books import submit_book
from producer.cli.console import EXIT_JOB_FAILED, errors, fail, settings_or_exit, warn
from producer.readers.batch import BATCH_SUFFIXES
from producer.readers.batch_entry import VoiceKey
from producer.readers.books import is_book
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice
from producer.readers.text import read_text
from producer.submit.batches import check_buckets, plan_work, submit_job_groups
from producer.submit.books import BookSubmitter
from producer.submit.clips import PreparedVoice
from producer.submit.grant import Grant
from producer.submit.jobs import Submitter, check_format, parse_out
from producer.submit.lexicons import Lexicons, read_lexicon_files
from producer.submit.synthesis import synthesis_from
from producer.submit.voice_options import voice_from_options
from worker.books.plan import Pauses
from worker.contract import RenderJob, Synthesis
from worker.errors import BadInput, NarrateError
from worker.settings import Settings
from worker.webhooks.submitted import check_notify_url


def register(app: typer.Typer) -> None:
    """Add `narrate submit` to the `narrate` app."""
    app.command()(submit)


def submit(
    files: Annotated[list[str], typer.Argument(help="Text files to narrate, one job each; '-' reads stdin.")],
    out: options.Out = None,
    voice: options.Voice = None,
    transcript: options.Transcript = None,
    transcript_file: options.TranscriptFile = None,
    voice_id: options.VoiceId = None,
    fmt: options.Format = "mp3",
    notify: options.Notify = None,
    notify_batch: options.NotifyBatch = None,
    budget: options.Budget = None,
    preset: options.Preset = None,
    chapters: options.Chapters = None,
    include_front_matter: options.FrontMatter = False,
    latency: options.Latency = None,
    speed: options.Speed = None,
    temperature: options.Temperature = None,
    top_p: options.TopP = None,
    sample_rate: options.SampleRate = None,
    lexicon: options.Lexicon = None,
    qc: options.Qc = None,
    qc_retakes: options.QcRetakes = None,
    read_along: options.ReadAlong = False,
    wait: options.Wait = False,
    as_json: options.Json = False,
    sources: options.Sources = None,
) -> None:
    """Enqueue narration: one job per text file; .epub and .md become audiobooks; .jsonl/.yaml batch files list many.

    --out may be left off for batch files, whose entries name their own.
    """
    settings = settings_or_exit()
    if out is None and not all(Path(f).suffix.lower() in BATCH_SUFFIXES for f in files):
        fail(
            "--out is required: where the audio goes, e.g. --out s3://my-bucket/book (only batch files name their own)"
        )
    try:
        synthesis = synthesis_from(
            latency=latency, speed=speed, temperature=temperature, top_p=top_p, sample_rate=sample_rate
        )
        lexicons = read_lexicon_files(lexicon)
        grant = Grant.for_sources(sources)
        check_notify_url(notify, settings=settings)  # before anything is read, uploaded or sent
        check_notify_url(notify_batch, settings=settings, option="--notify-batch")
    except BadInput as exc:
        fail(str(exc))
    books = [f for f in files if is_book(f) or Path(f).suffix.lower() in BATCH_SUFFIXES]
    cli_voice = (voice, transcript, transcript_file, voice_id)
    checked = QcChoice(mode=qc, retakes=qc_retakes)
    if books:
        _submit_books(
            settings,
            books,
            others=[f for f in files if f not in books],
            out=out,
            fmt=fmt,
            notify=(notify, notify_batch),
            budget=budget,
            cli_voice=cli_voice,
            wait=wait,
            as_json=as_json,
            preset=preset,
            chapters=(chapters, include_front_matter),
            synthesis=synthesis,
            lexicons=lexicons,
            grant=grant,
            qc=checked,
            read_along=read_along,
        )
        return
    if read_along:
        fail("--read-along makes a book's read-along EPUB: submit a book (.epub, .md) or a batch file of books")
    try:
        jobs = _submit_texts(
            settings,
            files,
            out=out,
            fmt=fmt,
            cli_voice=cli_voice,
            synthesis=synthesis,
            lexicons=lexicons,
            notify=(notify, notify_batch),
            qc=checked,
        )
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    _print_jobs(jobs, as_json=as_json)
    if wait:
        follow_cli.wait_and_report(settings, [job.job_id for job in jobs], timeout=None, as_json=False)


def _submit_texts(
    settings: Settings,
    files: list[str],
    *,
    out: str | None,
    fmt: str,
    cli_voice: VoiceKey,
    synthesis: Synthesis,
    lexicons: Lexicons,
    notify: tuple[str | None, str | None],
    qc: QcChoice = NOT_ASKED,
) -> list[RenderJob]:
    """One job per text file, all in the voice the options name."""
    check_format(fmt)
    parse_out(out)
    voice, transcript, transcript_file, voice_id = cli_voice
    chosen_voice = voice_from_options(
        settings, voice=voice, transcript=transcript, transcript_file=transcript_file, voice_id=voice_id
    )
    texts = [read_text(path) for path in files]
    if isinstance(chosen_voice, PreparedVoice):
        for warning in chosen_voice.warnings:
            warn(warning)
    return Submitter.from_settings(settings).submit(
        sources=texts,
        voice=chosen_voice,
        out=out,
        fmt=fmt,
        synthesis=synthesis,
        lexicons=lexicons,
        notify=notify[0],
        notify_batch=notify[1],
        qc=qc,
    )


def _submit_books(
    settings: Settings,
    books: list[str],
    *,
    others: list[str],
    out: str | None,
    fmt: str,
    notify: tuple[str | None, str | None],
    budget: float | None,
    cli_voice: VoiceKey,
    wait: bool,
    as_json: bool,
    preset: str | None,
    chapters: tuple[str | None, bool],
    synthesis: Synthesis,
    lexicons: Lexicons,
    grant: Grant = Grant(),
    qc: QcChoice = NOT_ASKED,
    read_along: bool = False,
) -> None:
    """Books and batch files: every book and job is checked (read, voiced, planned) before the first is submitted."""
    if others:
        fail("submit text files and books separately: " + ", ".join(others) + " are plain text jobs")
    started = time.perf_counter()
    try:
        choice = ChapterChoice.parse(chapters[0], include_front_matter=chapters[1])
        work = plan_work(
            settings,
            books,
            out=out,
            fmt=fmt,
            cli_voice=cli_voice,
            preset=preset,
            chapters=choice,
            warn=warn,
            synthesis=synthesis,
            lexicons=lexicons,
            grant=grant,
            qc=qc,
            read_along=read_along,
        )
        check_buckets(settings, work.outputs)
        if work.books:
            submitter = BookSubmitter.from_settings(settings)
            for entry in work.books:
                submit_book(
                    submitter,
                    entry.book,
                    voice=entry.voice,
                    out=entry.out,
                    fmt=entry.fmt,
                    notify=notify[0],
                    budget=budget,
                    pauses=Pauses(),
                    title=entry.title,
                    preset=entry.preset,
                    chapters=entry.chapters,
                    synthesis=entry.synthesis,
                    lexicons=entry.lexicons,
                    qc=entry.qc,
                    read_along=entry.read_along,
                )
        jobs = submit_job_groups(settings, work, notify=notify[0], notify_batch=notify[1])
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    if not jobs:
        return
    _print_jobs(jobs, as_json=as_json)
    # stderr, so stdout stays the ids (or the JSON) alone
    errors.print(
        f"queued {len(jobs):,} job{'s' if len(jobs) != 1 else ''} in {time.perf_counter() - started:.1f} s",
        highlight=False,
    )
    if wait:
        follow_cli.wait_and_report(settings, [job.job_id for job in jobs], timeout=None, as_json=False)


def _print_jobs(jobs: list[RenderJob], *, as_json: bool) -> None:
    """Each job's id and title, one line each, or `{"jobs": [...]}`; written at once: thousands of lines stay fast."""
    if as_json:
        print(json.dumps({"jobs": [{"job_id": job.job_id, "title": job.title} for job in jobs]}))
    else:
        sys.stdout.write("".join(f"{job.job_id}  {job.title}\n" for job in jobs))
        sys.stdout.flush()
