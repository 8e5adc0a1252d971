"""`narrate book`, `narrate estimate`, `narrate watch`: audiobooks from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from producer.cli.console import EXIT_JOB_FAILED, console, errors, fail
from producer.cli.progress import book_table, watch_book
from producer.readers.books import BookText, read_book
from producer.submit.books import BookSubmitter, Estimate
from producer.submit.books import estimate as price_plan
from worker.books.plan import Pauses
from worker.books.state import BookState
from worker.errors import BadInput, NarrateError


def estimate_table(rows: list[tuple[str, Estimate]]) -> Table:
    table = Table(title="estimate (nothing rendered)")
    for column in ("book", "chapters", "chunks", "UTF-8 bytes", "cost", "cached chunks", "to pay", "audio length"):
        table.add_column(column, justify="left" if column == "book" else "right")
    for name, e in rows:
        cached = "?" if e.cached_chunks is None else f"{e.cached_chunks:,}"
        table.add_row(name, str(e.chapters), f"{e.chunks:,}", f"{e.text_bytes:,}", f"${e.cost_usd:.2f}", cached,
                      f"${e.uncached_cost_usd:.2f}", _duration(e.audio_seconds))  # fmt: skip
    return table


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def submit_book(
    submitter: BookSubmitter, book: BookText, *, voice: Any, out: str, fmt: str, notify: str | None, budget: float | None,
    pauses: Pauses, title: str | None = None,
) -> str:  # fmt: skip
    plan, cost = submitter.submit(
        book, voice=voice, out=out, fmt=fmt, pauses=pauses, notify_url=notify, budget_usd=budget, title=title
    )
    console.print(
        f"{plan.book_id}  {book.source}: {len(plan.chapters)} chapters, {plan.chunk_count} chunks,"
        f" {cost.cached_chunks or 0} already rendered, estimated ${cost.uncached_cost_usd:.2f}",
        markup=False,
    )
    return plan.book_id


def register(app: typer.Typer, *, settings_or_exit: Any, voice_from_options: Any) -> None:
    """Add the audiobook commands to the `narrate` app."""

    @app.command()
    def book(
        file: Annotated[str, typer.Argument(help="A .epub, .md or .txt book.")],
        out: Annotated[str, typer.Option("--out", help="Where outputs go: s3://bucket[/prefix].")],
        voice: Annotated[Optional[str], typer.Option("--voice", help="Reference clip, or a voice NAME.")] = None,
        transcript: Annotated[Optional[str], typer.Option("--transcript", help="Exactly what the clip says.")] = None,
        transcript_file: Annotated[Optional[Path], typer.Option("--transcript-file", help="File holding the transcript.")] = None,
        voice_id: Annotated[Optional[str], typer.Option("--voice-id", help="An existing Fish voice id.")] = None,
        fmt: Annotated[str, typer.Option("--format", help="Chapter files: mp3, wav or opus (the book is .m4b).")] = "mp3",
        notify: Annotated[Optional[str], typer.Option("--notify", help="POST a signed JSON notice here when done.")] = None,
        budget: Annotated[Optional[float], typer.Option("--budget", help="Refuse if the estimate exceeds this many USD.")] = None,
        paragraph_pause: Annotated[float, typer.Option(help="Seconds of silence between paragraphs.")] = Pauses().paragraph_seconds,
        chapter_pause: Annotated[float, typer.Option(help="Seconds of silence between chapters.")] = Pauses().chapter_seconds,
        watch: Annotated[bool, typer.Option("--watch", help="Show per-chapter progress until done.")] = False,
    ) -> None:
        """Render one book: chapters fan out to chunks over every worker, then a chaptered .m4b."""
        settings = settings_or_exit()
        try:
            chosen = voice_from_options(settings, voice=voice, transcript=transcript, transcript_file=transcript_file, voice_id=voice_id)
            pauses = Pauses(paragraph_seconds=paragraph_pause, chapter_seconds=chapter_pause)
            book_id = submit_book(BookSubmitter.from_settings(settings), read_book(file), voice=chosen, out=out, fmt=fmt,
                                  notify=notify, budget=budget, pauses=pauses)  # fmt: skip
        except BadInput as exc:
            fail(str(exc))
        except NarrateError as exc:
            fail(str(exc), code=EXIT_JOB_FAILED)
        except ValueError as exc:
            fail(f"invalid pauses: {exc}")
        if watch:
            finished = watch_book(BookState.from_url(settings.broker_url), book_id, console=console)
            console.print(book_table(finished))
            if finished.get("state") != "succeeded":
                raise typer.Exit(EXIT_JOB_FAILED)

    @app.command()
    def estimate(
        files: Annotated[list[str], typer.Argument(help="Books (.epub, .md, .txt) to price without rendering.")],
        out: Annotated[Optional[str], typer.Option("--out", help="With a voice: count chunks already rendered there.")] = None,
        voice: Annotated[Optional[str], typer.Option("--voice", help="Reference clip, or a voice NAME.")] = None,
        transcript: Annotated[Optional[str], typer.Option("--transcript", help="Exactly what the clip says.")] = None,
        voice_id: Annotated[Optional[str], typer.Option("--voice-id", help="An existing Fish voice id.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ) -> None:
        """Chapters, chunks, bytes, cost, cached chunks and audio length, without rendering anything."""
        settings = settings_or_exit()
        rows: list[tuple[str, Estimate]] = []
        try:
            chosen = None
            if voice or voice_id:
                chosen = voice_from_options(settings, voice=voice, transcript=transcript, transcript_file=None, voice_id=voice_id)
            submitter = BookSubmitter.from_settings(settings)
            for path in files:
                text: BookText = read_book(path)
                plan = submitter.plan(text, voice=chosen or "unknown-voice", out=out or "s3://narrate-estimate")
                if chosen is not None and out:
                    rows.append((text.source, submitter.estimate(plan)))
                else:
                    rows.append((text.source, price_plan(plan, price_per_million=settings.price_per_million_bytes, storage=None)))
        except BadInput as exc:
            fail(str(exc))
        if as_json:
            print(json.dumps([{"book": name, **e.as_dict()} for name, e in rows], indent=2))
        else:
            console.print(estimate_table(rows))
            errors.print(f"price: ${settings.price_per_million_bytes:g} per million UTF-8 bytes (NARRATE_PRICE_PER_MILLION_BYTES)")

    @app.command("watch")
    def watch_command(
        book_id: Annotated[str, typer.Argument(help="The book id printed by `narrate book`.")],
        timeout: Annotated[Optional[float], typer.Option("--timeout", help="Give up after this many seconds.")] = None,
    ) -> None:
        """Per-chapter progress bars until the book has finished."""
        settings = settings_or_exit()
        try:
            finished = watch_book(BookState.from_url(settings.broker_url), book_id, console=console, timeout=timeout)
        except BadInput as exc:
            fail(str(exc))
        console.print(book_table(finished))
        if finished.get("state") != "succeeded":
            raise typer.Exit(EXIT_JOB_FAILED)
