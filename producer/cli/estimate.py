"""`narrate estimate`: what books would cost and how long they would play, without rendering anything."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from producer.cli import options
from producer.cli.console import console, errors, fail, settings_or_exit
from producer.readers.books import BookText, read_book
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice
from producer.submit.book_estimate import Estimate
from producer.submit.book_estimate import estimate as price_plan
from producer.submit.books import BookSubmitter
from producer.submit.lexicons import Lexicons, read_lexicon_files
from producer.submit.synthesis import synthesis_from
from producer.submit.voice_options import voice_from_options
from worker.contract import Synthesis
from worker.errors import BadInput
from worker.settings import Settings

Priced = list[tuple[BookText, Estimate]]


def estimate(
    files: Annotated[list[str], typer.Argument(help="Books (.epub, .md, .txt) to price without rendering.")],
    out: options.Out = None,
    voice: options.Voice = None,
    transcript: options.Transcript = None,
    transcript_file: options.TranscriptFile = None,
    voice_id: options.VoiceId = None,
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
    as_json: options.Json = False,
) -> None:
    """Chapters, chunks, bytes, cost, cached chunks and audio length, without rendering anything.

    With a voice and --out, chunks already rendered there are counted and not priced again.
    With --lexicon, also how many chunks the lexicon changes and what re-rendering them costs.
    With proof-listening (--qc, NARRATE_QC or the preset's), also hearing it back and the retakes expected.
    """
    settings = settings_or_exit()
    try:
        choice = ChapterChoice.parse(chapters, include_front_matter=include_front_matter)
        synthesis = synthesis_from(
            latency=latency, speed=speed, temperature=temperature, top_p=top_p, sample_rate=sample_rate
        )
        chosen = None
        if voice or voice_id:
            chosen = voice_from_options(
                settings, voice=voice, transcript=transcript, transcript_file=transcript_file, voice_id=voice_id
            )
        priced = price_books(
            settings,
            files,
            voice=chosen,
            out=out,
            preset=preset,
            choice=choice,
            synthesis=synthesis,
            lexicons=read_lexicon_files(lexicon),
            qc=QcChoice(mode=qc, retakes=qc_retakes),
        )
    except BadInput as exc:
        fail(str(exc))
    if as_json:
        rows = [{"book": book.source, **e.as_dict(), "contents": contents_rows(book, choice)} for book, e in priced]
        print(json.dumps(rows, indent=2))
        return
    console.print(estimate_table([(book.source, e) for book, e in priced]))
    if any(e.qc != "off" for _, e in priced):
        console.print(hearing_table([(book.source, e) for book, e in priced]))
    for book, _ in priced:
        console.print(contents_table(book, choice))
    errors.print(
        f"price: ${settings.price_per_million_bytes:g} per million UTF-8 bytes (NARRATE_PRICE_PER_MILLION_BYTES)"
    )
    if any(e.qc != "off" for _, e in priced):
        errors.print(
            f"hearing: ${settings.asr_price_per_hour:g} per audio hour (NARRATE_ASR_PRICE_PER_HOUR); retakes: expected"
            f" for {settings.qc_expected_retake_share:.0%} of takes (NARRATE_QC_EXPECTED_RETAKE_SHARE)"
        )


def price_books(
    settings: Settings,
    files: list[str],
    *,
    voice: Any,
    out: str | None,
    preset: str | None,
    choice: ChapterChoice,
    synthesis: Synthesis,
    lexicons: Lexicons,
    qc: QcChoice = NOT_ASKED,
) -> Priced:
    """Each book read, planned and priced; chunks already rendered are counted only when the voice and --out say where.

    With lexicons, each book is planned twice, with and without them, to price what the lexicons change.
    """
    submitter = BookSubmitter.from_settings(settings)
    planned = {
        "voice": voice or "unknown-voice",
        "out": out or "s3://narrate-estimate",
        "preset": preset,
        "chapters": choice,
        "synthesis": synthesis,
        "qc": qc,
    }
    priced: Priced = []
    for path in files:
        book: BookText = read_book(path)
        plan = submitter.plan(book, **planned, lexicons=lexicons)
        without = submitter.plan(book, **planned) if lexicons else None
        if voice is not None and out:
            cost = submitter.estimate(plan, without=without)
        else:
            cost = price_plan(
                plan,
                price_per_million=settings.price_per_million_bytes,
                asr_per_hour=settings.asr_price_per_hour,
                retake_share=settings.qc_expected_retake_share,
                storage=None,
                without=without,
            )
        priced.append((book, cost))
    return priced


def estimate_table(rows: list[tuple[str, Estimate]]) -> Table:
    table = Table(title="estimate (nothing rendered)")
    trying = any(e.lexicon_chunks is not None for _, e in rows)
    columns = ["book", "chapters", "chunks", "UTF-8 bytes", "cost", "cached chunks", "to pay", "audio length"]
    for column in columns + (["lexicon changes", "re-render"] if trying else []):
        table.add_column(column, justify="left" if column == "book" else "right")
    for name, e in rows:
        cached = "?" if e.cached_chunks is None else f"{e.cached_chunks:,}"
        cells = [
            name,
            str(e.chapters),
            f"{e.chunks:,}",
            f"{e.text_bytes:,}",
            f"${e.cost_usd:.2f}",
            cached,
            f"${e.uncached_cost_usd:.2f}",
            _duration(e.audio_seconds),
        ]
        if trying:
            cells += [f"{e.lexicon_chunks or 0:,} chunks", f"${e.lexicon_cost_usd or 0:.2f}"]
        table.add_row(*cells)
    return table


def hearing_table(rows: list[tuple[str, Estimate]]) -> Table:
    """Proof-listening's share of each book's bill: hearing back what is still to render, the retakes expected."""
    table = Table(title="proof-listening (--qc) of what is still to pay")
    for column in ("book", "qc", "hearing", "retakes (expected)", "total to pay"):
        table.add_column(column, justify="left" if column in ("book", "qc") else "right")
    for name, e in rows:
        table.add_row(
            name, e.qc, f"${e.asr_cost_usd:.2f}", f"${e.expected_retake_cost_usd:.2f}", f"${e.total_cost_usd:.2f}"
        )
    return table


def contents_rows(book: BookText, choice: ChapterChoice) -> list[dict[str, Any]]:
    """Every chapter the reader found, narrated or not, and why not."""
    return [
        {
            "number": n,
            "title": c.title,
            "narrated": choice.takes(n, c),
            "words": len(c.text.split()),
            "why": c.matter if not choice.takes(n, c) else "",
        }
        for n, c in enumerate(book.chapters, start=1)
    ]


def contents_table(book: BookText, choice: ChapterChoice) -> Table:
    table = Table(title=f"{book.source}: contents (--chapters picks by number)")
    for column in ("#", "title", "words", "narrated", "why not"):
        table.add_column(column, justify="right" if column in ("#", "words") else "left")
    for row in contents_rows(book, choice):
        table.add_row(
            str(row["number"]), row["title"], f"{row['words']:,}", "yes" if row["narrated"] else "no", row["why"]
        )
    return table


def _duration(seconds: float) -> str:
    hours, rest = divmod(int(seconds), 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"
