"""`narrate`: submit narration jobs and follow them; run the local stack and the emulator.

Exit codes: 0 ok, 1 a job failed (or did not finish in time), 2 bad input.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer

from producer.cli import books as book_cli
from producer.cli import follow as follow_cli
from producer.cli import gc as gc_cli
from producer.cli import ops as ops_cli
from producer.cli import options
from producer.cli import say as say_cli
from producer.cli import words as words_cli
from producer.cli.console import (
    EXIT_JOB_FAILED,
    console,
    errors,
    fail,
    settings_or_exit,
    warn,
)
from producer.cli.metrics import metrics_app
from producer.cli.pipelines import pipelines_app
from producer.cli.voices import voices_app
from producer.readers.batch import BATCH_SUFFIXES, VoiceKey
from producer.readers.books import is_book
from producer.readers.selection import ChapterChoice
from producer.readers.text import read_text
from producer.submit.batches import check_buckets, plan_work, submit_job_groups
from producer.submit.clips import PreparedVoice
from producer.submit.grant import Grant
from producer.submit.jobs import Submitter, check_format, parse_out
from producer.submit.lexicons import Lexicons, read_lexicon_files
from producer.submit.synthesis import synthesis_from
from producer.submit.voice_options import voice_from_options
from worker.contract import RenderJob, Synthesis, job_schema
from worker.errors import BadInput, NarrateError
from worker.settings import Settings
from worker.webhooks.submitted import check_notify_url

# Help texts are plain text: brackets such as s3://bucket[/prefix] must print as written, never as Rich markup.
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, rich_markup_mode=None)
app.add_typer(voices_app, name="voices")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(metrics_app, name="metrics")


@app.command()
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
    wait: options.Wait = False,
    as_json: options.Json = False,
    sources: options.Sources = None,
) -> None:
    """Enqueue narration: one job per text file; .epub and .md become audiobooks; .jsonl/.yaml manifests list many.

    --out may be left off for manifests, whose entries name their own.
    """
    settings = settings_or_exit()
    if out is None and not all(Path(f).suffix.lower() in BATCH_SUFFIXES for f in files):
        fail("--out is required: where the audio goes, e.g. --out s3://my-bucket/book (only manifests name their own)")
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
    if books:
        _submit_books(
            settings,
            books,
            others=[f for f in files if f not in books],
            out=out,
            fmt=fmt,
            notify=(notify, notify_batch),
            budget=budget,
            cli_voice=(voice, transcript, transcript_file, voice_id),
            wait=wait,
            as_json=as_json,
            preset=preset,
            chapters=(chapters, include_front_matter),
            synthesis=synthesis,
            lexicons=lexicons,
            grant=grant,
        )
        return
    try:
        check_format(fmt)
        parse_out(out)
        chosen_voice = voice_from_options(
            settings, voice=voice, transcript=transcript, transcript_file=transcript_file, voice_id=voice_id
        )
        sources = [read_text(path) for path in files]
        if isinstance(chosen_voice, PreparedVoice):
            for warning in chosen_voice.warnings:
                warn(warning)
        jobs = Submitter.from_settings(settings).submit(
            sources=sources,
            voice=chosen_voice,
            out=out,
            fmt=fmt,
            synthesis=synthesis,
            lexicons=lexicons,
            notify=notify,
            notify_batch=notify_batch,
        )
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    _print_jobs(jobs, as_json=as_json)
    if wait:
        follow_cli.wait_and_report(settings, [job.job_id for job in jobs], timeout=None, as_json=False)


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
) -> None:
    """Books and manifests: every book and job is checked (read, voiced, planned) before the first is submitted."""
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
        )
        check_buckets(settings, work.outputs)
        if work.books:
            submitter = book_cli.BookSubmitter.from_settings(settings)
            for entry in work.books:
                book_cli.submit_book(
                    submitter,
                    entry.book,
                    voice=entry.voice,
                    out=entry.out,
                    fmt=entry.fmt,
                    notify=notify[0],
                    budget=budget,
                    pauses=book_cli.Pauses(),
                    title=entry.title,
                    preset=entry.preset,
                    chapters=entry.chapters,
                    synthesis=entry.synthesis,
                    lexicons=entry.lexicons,
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


book_cli.register(app)
ops_cli.register(app, settings_or_exit=settings_or_exit)
say_cli.register(app, settings_or_exit=settings_or_exit, voice_from_options=voice_from_options)
words_cli.register(app, settings_or_exit=settings_or_exit)
app.command("gc")(gc_cli.gc)


follow_cli.register(app, settings_or_exit=settings_or_exit)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a `narrate.render` job message."""
    print(json.dumps(job_schema(), indent=2))


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []})
def emulator(ctx: typer.Context) -> None:
    """Run the Fish API emulator (a development and test tool): --port --latency --concurrency
    --train-seconds --fail-rate --fail-training --rate-limit-rate --stall-rate --stall-seconds --seed
    --credit --tone-mode --api-key; `narrate emulator --help` lists them all."""
    from producer.dev.emulator.__main__ import parse_args
    from producer.dev.emulator.server import serve

    # One definition of the flags: the emulator's own parser, also behind `python -m producer.dev.emulator`.
    serve(parse_args(list(ctx.args)))


@app.command()
def dev(
    files: Annotated[
        list[str] | None, typer.Argument(help="Text files to render (default: the bundled sample).")
    ] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where rendered audio is saved.")] = Path("out"),
    fmt: options.Format = "mp3",
    preset: options.Preset = None,
    chapters: options.Chapters = None,
    include_front_matter: options.FrontMatter = False,
    latency: options.Latency = None,
    speed: options.Speed = None,
    temperature: options.Temperature = None,
    top_p: options.TopP = None,
    sample_rate: options.SampleRate = None,
    lexicon: options.Lexicon = None,
    voice: Annotated[Path | None, typer.Option("--voice", help="Reference clip (default: a generated one).")] = None,
    transcript: options.Transcript = None,
    emulator_latency: Annotated[
        float, typer.Option(help="Seconds the emulator adds per request, to mimic the cloud.")
    ] = 0.0,
    flower: Annotated[
        bool,
        typer.Option(
            "--flower", help="Also start Flower (pip install 'narrate[ops]'); the stack stays up until Ctrl-C."
        ),
    ] = False,
    flower_port: Annotated[int, typer.Option("--flower-port", help="Flower's port (0: any free one).")] = 5555,
    as_json: options.Json = False,
    pipelines: Annotated[
        Path | None,
        typer.Option("--pipelines", help="Run these scheduled pipelines too, until Ctrl-C.", metavar="FILE"),
    ] = None,
) -> None:
    """Start Redis, S3, the emulator (unless FISH_API_KEY is set) and a worker; render; stop all."""
    from producer.dev.run import run_dev, sample_reference_clip
    from producer.dev.sample import reference_transcript

    if pipelines is not None:
        from producer.dev.pipelines import run_pipelines_dev

        clip, words = (voice, transcript or "") if voice else (sample_reference_clip(), reference_transcript())
        raise typer.Exit(run_pipelines_dev(pipelines, clip=clip, transcript=words, console=console, errors=errors))

    try:
        choice = ChapterChoice.parse(chapters, include_front_matter=include_front_matter)
        synthesis = synthesis_from(
            latency=latency, speed=speed, temperature=temperature, top_p=top_p, sample_rate=sample_rate
        )
        lexicons = read_lexicon_files(lexicon)
    except BadInput as exc:
        fail(str(exc))
    code = run_dev(
        files=files or [],
        out_dir=out_dir,
        fmt=fmt,
        preset=preset,
        chapters=choice,
        synthesis=synthesis,
        lexicons=lexicons,
        voice=voice,
        transcript=transcript,
        emulator_latency=emulator_latency,
        flower=flower_port if flower else None,
        console=errors if as_json else console,
        errors=errors,
        as_json=as_json,
    )
    raise typer.Exit(code)


def main() -> None:  # pragma: no cover - console-script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
