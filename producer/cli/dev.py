"""`narrate dev` and `narrate emulator`: the local stack and the Fish API emulator from the command line.

The work is done in producer.dev (the stack, the demo, the emulator); these commands read the options.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from producer.cli import options
from producer.cli.console import console, errors, fail
from producer.readers.quality import QcChoice
from producer.readers.selection import ChapterChoice
from producer.submit.lexicons import read_lexicon_files
from producer.submit.synthesis import synthesis_from
from worker.errors import BadInput

# The emulator's flags pass through untouched, --help included: its own parser reads them.
_PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}


def register(app: typer.Typer) -> None:
    """Add `narrate emulator` and `narrate dev` to the `narrate` app."""
    app.command(context_settings=_PASS_THROUGH)(emulator)
    app.command()(dev)


def emulator(ctx: typer.Context) -> None:
    """Run the Fish API emulator (a development and test tool): --port --latency --concurrency
    --train-seconds --fail-rate --fail-training --rate-limit-rate --stall-rate --stall-seconds --seed
    --credit --tone-mode --api-key; `narrate emulator --help` lists them all."""
    from producer.dev.emulator.__main__ import parse_args
    from producer.dev.emulator.server import serve

    # One definition of the flags: the emulator's own parser, also behind `python -m producer.dev.emulator`.
    serve(parse_args(list(ctx.args)))


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
    qc: options.Qc = None,
    qc_retakes: options.QcRetakes = None,
    read_along: options.ReadAlong = False,
    voice: Annotated[Path | None, typer.Option("--voice", help="Reference clip (default: a generated one).")] = None,
    transcript: options.Transcript = None,
    emulator_latency: Annotated[
        float, typer.Option(help="Seconds the emulator adds per request, to mimic the cloud.")
    ] = 0.0,
    faults: Annotated[
        float,
        typer.Option(
            "--faults",
            min=0,
            max=0.25,
            help="The emulator spoils this share of takes of each kind (a sentence dropped, a phrase repeated, a word"
            " garbled, the end cut) and mishears 3 % of words: watch takes heard and retaken (--qc retake unless"
            " --qc says otherwise).",
        ),
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

    from producer.readers.books import is_book

    if read_along and not any(is_book(f) for f in files or []):
        fail("--read-along makes a book's read-along EPUB: name a book (.epub or .md), e.g. narrate dev book.epub")
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
        qc=QcChoice(mode=qc or ("retake" if faults else None), retakes=qc_retakes),
        read_along=read_along,
        voice=voice,
        transcript=transcript,
        emulator_latency=emulator_latency,
        faults=faults,
        flower=flower_port if flower else None,
        console=errors if as_json else console,
        errors=errors,
        as_json=as_json,
    )
    raise typer.Exit(code)
