"""The options several commands share, defined once so that one spelling means one thing everywhere."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

Out = Annotated[str | None, typer.Option("--out", help="Where outputs go: s3://bucket[/prefix].")]
Voice = Annotated[
    str | None, typer.Option("--voice", help="Reference clip (10-30 s of clean speech), or a voice NAME.")
]
Transcript = Annotated[str | None, typer.Option("--transcript", help="Exactly what the --voice clip says.")]
TranscriptFile = Annotated[
    Path | None, typer.Option("--transcript-file", help="File holding the --voice clip's transcript.")
]
VoiceId = Annotated[str | None, typer.Option("--voice-id", help="An existing Fish voice id, instead of a clip.")]
Format = Annotated[str, typer.Option("--format", help="Audio format: mp3, wav or opus.")]
Notify = Annotated[
    str | None, typer.Option("--notify", help="POST a signed JSON notice to this URL when each job or book ends.")
]
NotifyBatch = Annotated[
    str | None,
    typer.Option(
        "--notify-batch", help="Jobs: POST one signed JSON notice to this URL once every job submitted has ended."
    ),
]
Budget = Annotated[
    float | None, typer.Option("--budget", help="Books: refuse one whose cost still to pay exceeds this many USD.")
]
Json = Annotated[bool, typer.Option("--json", help="Print JSON on stdout (progress, if any, goes to stderr).")]
Timeout = Annotated[float | None, typer.Option("--timeout", help="Give up waiting after this many seconds.")]
Wait = Annotated[bool, typer.Option("--wait", help="Show progress until everything submitted has finished.")]
Preset = Annotated[
    str | None,
    typer.Option(
        "--preset",
        help="Books: how the audio is made: standard, or acx for the audiobook store's file rules"
        " (default: NARRATE_PRESET).",
    ),
]
Chapters = Annotated[
    str | None,
    typer.Option(
        "--chapters", help="Books: only these chapters, numbered as `narrate estimate` lists them, e.g. 1-3,7."
    ),
]
FrontMatter = Annotated[
    bool,
    typer.Option(
        "--include-front-matter", help="Books: also narrate the table of contents, copyright page, index and the like."
    ),
]
Latency = Annotated[
    str | None,
    typer.Option("--latency", help="Fish's mode: normal (higher quality) or balanced (default: NARRATE_FISH_LATENCY)."),
]
Speed = Annotated[float | None, typer.Option("--speed", help="Speaking rate, 0.5 to 2 (1 is natural).")]
Temperature = Annotated[float | None, typer.Option("--temperature", help="Randomness of the delivery, 0 to 1.")]
TopP = Annotated[float | None, typer.Option("--top-p", help="Nucleus sampling of the delivery, 0 to 1.")]
Lexicon = Annotated[
    list[Path] | None,
    typer.Option(
        "--lexicon",
        metavar="FILE",
        help="A pronunciation lexicon (.pls, .yaml or .csv); repeat for more, a later file's entries win.",
    ),
]
SampleRate = Annotated[
    int | None,
    typer.Option(
        "--sample-rate", help="Hz asked of Fish: 8000, 16000, 24000, 32000 or 44100 (default: Fish's own, 44100)."
    ),
]
ReadAlong = Annotated[
    bool,
    typer.Option(
        "--read-along",
        help="Also make readalong.epub: the book's text with each sentence highlighted as the narration plays"
        " (EPUB 3 Media Overlays, the chapter audio inside); hears every take (--qc report at least); mp3 chapters.",
    ),
]
Qc = Annotated[
    Literal["off", "report", "retake"] | None,
    typer.Option(
        "--qc",
        help="Proof-listening: every take heard back and judged (report), and a failed one rendered again (retake);"
        " default: NARRATE_QC, else a book's preset's (standard: report, acx: retake), else off.",
    ),
]
QcRetakes = Annotated[
    int | None,
    typer.Option(
        "--qc-retakes",
        min=0,
        max=5,
        help="With --qc retake: takes rendered again at most per chunk (default: NARRATE_QC_RETAKES).",
    ),
]
Sources = Annotated[
    list[str] | None,
    typer.Option(
        "--sources",
        metavar="s3://B/P",
        help="Hold batch files to these S3 folders"
        " (repeatable): entries may name only s3:// files under them, never local paths; anything else is refused.",
    ),
]
