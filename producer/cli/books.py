"""`narrate book`, `narrate watch` (and `narrate estimate`, from estimate.py): audiobooks from the command line."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from producer.cli import options
from producer.cli.console import EXIT_JOB_FAILED, console, errors, fail, settings_or_exit
from producer.cli.estimate import estimate
from producer.cli.progress import book_table, watch_book
from producer.readers.books import BookText, read_book
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice
from producer.submit.books import BookSubmitter
from producer.submit.lexicons import Lexicons, read_lexicon_files
from producer.submit.read_along import ReadAlongSource
from producer.submit.synthesis import synthesis_from
from producer.submit.voice_options import voice_from_options
from worker.books.plan import Pauses
from worker.books.state import BookState
from worker.contract import Synthesis
from worker.errors import BadInput, NarrateError
from worker.settings import Settings


def register(app: typer.Typer) -> None:
    """Add the audiobook commands to the `narrate` app."""
    app.command()(book)
    app.command()(estimate)
    app.command("watch")(watch_command)


def book(
    file: Annotated[str, typer.Argument(help="A .epub, .md or .txt book.")],
    out: options.Out = None,
    voice: options.Voice = None,
    transcript: options.Transcript = None,
    transcript_file: options.TranscriptFile = None,
    voice_id: options.VoiceId = None,
    fmt: options.Format = "mp3",
    notify: options.Notify = None,
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
    paragraph_pause: Annotated[
        float, typer.Option(help="Seconds of silence between paragraphs.")
    ] = Pauses().paragraph_seconds,
    chapter_pause: Annotated[
        float, typer.Option(help="Seconds of silence between chapters.")
    ] = Pauses().chapter_seconds,
    wait: Annotated[
        bool, typer.Option("--wait", "--watch", help="Show per-chapter progress until the book has finished.")
    ] = False,
    as_json: options.Json = False,
) -> None:
    """Render one book: chapters fan out to chunks over every worker, then a chaptered .m4b.

    --format is the chapter files' format; the book itself is always .m4b.
    """
    settings = settings_or_exit()
    if out is None:
        fail("--out is required: where the audiobook goes, e.g. --out s3://my-bucket/books")
    try:
        chosen = voice_from_options(
            settings, voice=voice, transcript=transcript, transcript_file=transcript_file, voice_id=voice_id
        )
        pauses = Pauses(paragraph_seconds=paragraph_pause, chapter_seconds=chapter_pause)
        choice = ChapterChoice.parse(chapters, include_front_matter=include_front_matter)
        synthesis = synthesis_from(
            latency=latency, speed=speed, temperature=temperature, top_p=top_p, sample_rate=sample_rate
        )
        book_id = submit_book(
            BookSubmitter.from_settings(settings),
            read_book(file),
            voice=chosen,
            out=out,
            fmt=fmt,
            notify=notify,
            budget=budget,
            pauses=pauses,
            quiet=as_json,
            preset=preset,
            chapters=choice,
            synthesis=synthesis,
            lexicons=read_lexicon_files(lexicon),
            qc=QcChoice(mode=qc, retakes=qc_retakes),
            read_along=ReadAlongSource.of(file) if read_along else None,
        )
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    except ValueError as exc:
        fail(f"invalid pauses: {exc}")
    if not wait:
        if as_json:
            print(json.dumps({"book_id": book_id}))
        return
    if not wait_for_book(settings, book_id, timeout=None, as_json=as_json):
        raise typer.Exit(EXIT_JOB_FAILED)


def watch_command(
    book_id: Annotated[str, typer.Argument(help="The book id printed by `narrate book`.")],
    timeout: options.Timeout = None,
    as_json: options.Json = False,
) -> None:
    """Per-chapter progress bars until the book has finished (the same as `narrate wait BOOK_ID`)."""
    if not wait_for_book(settings_or_exit(), book_id, timeout=timeout, as_json=as_json):
        raise typer.Exit(EXIT_JOB_FAILED)


def submit_book(
    submitter: BookSubmitter,
    book: BookText,
    *,
    voice: Any,
    out: str,
    fmt: str | None,
    notify: str | None,
    budget: float | None,
    pauses: Pauses,
    title: str | None = None,
    quiet: bool = False,
    preset: str | None = None,
    chapters: ChapterChoice = ChapterChoice(),
    synthesis: Synthesis = Synthesis(),
    lexicons: Lexicons = Lexicons(),
    qc: QcChoice = NOT_ASKED,
    read_along: ReadAlongSource | None = None,
) -> str:
    plan, cost = submitter.submit(
        book,
        voice=voice,
        out=out,
        fmt=fmt,
        pauses=pauses,
        notify_url=notify,
        budget_usd=budget,
        title=title,
        preset=preset,
        chapters=chapters,
        synthesis=synthesis,
        lexicons=lexicons,
        qc=qc,
        read_along=read_along,
    )
    (errors if quiet else console).print(
        f"{plan.book_id}  {book.source}: {len(plan.chapters)} chapters, {plan.chunk_count} chunks,"
        f" {cost.cached_chunks or 0} already rendered, estimated ${cost.total_cost_usd:.2f}"
        + ("" if cost.qc == "off" else f" with --qc {cost.qc}"),
        markup=False,
    )
    return plan.book_id


def wait_for_book(settings: Settings, book_id: str, *, timeout: float | None, as_json: bool) -> bool:
    """Progress bars (on stderr with --json) until the book finishes; then its table or JSON. True if it succeeded."""
    try:
        finished = watch_book(
            BookState.from_url(settings.broker_url, master_name=settings.redis_master_name),
            book_id,
            console=errors if as_json else console,
            timeout=timeout,
        )
    except BadInput as exc:
        fail(str(exc))
    if as_json:
        print(json.dumps(finished, indent=2))
    else:
        console.print(book_table(finished))
    return finished.get("state") == "succeeded"
