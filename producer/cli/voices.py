"""`narrate voices`: named voices and the reference registry."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from producer.cli import options
from producer.cli.console import EXIT_JOB_FAILED, console, fail, settings_or_exit, warn
from producer.submit.clips import ClipInput, prepare_clip_voice, upload_clips
from producer.submit.jobs import parse_out
from producer.submit.lexicons import read_lexicon_files
from producer.submit.voices import VoiceBook
from worker.errors import BadInput, NarrateError

voices_app = typer.Typer(
    no_args_is_help=True,
    rich_markup_mode=None,
    help="Named voices and the reference registry (promotion to Fish voices).",
)

Json = options.Json
Ref = Annotated[str, typer.Argument(help="A voice NAME, or a reference hash (8+ leading characters).")]


def book() -> VoiceBook:
    return VoiceBook.from_settings(settings_or_exit())


def guarded(action: Any) -> Any:
    try:
        return action()
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)


def _when(timestamp: Any) -> str:
    if not timestamp:
        return ""
    return datetime.fromtimestamp(float(timestamp), UTC).isoformat(timespec="seconds")


# A promotion's own bookkeeping: the claim token is a capability to write over the entry, not for output.
_INTERNAL = ("lease_until", "claim_token", "creating_until")


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _INTERNAL}


@voices_app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="The name to use with `narrate submit --voice NAME`.")],
    clips: Annotated[list[Path], typer.Option("--clip", help="A reference clip; repeat for several.")],
    transcripts: Annotated[list[str], typer.Option("--transcript", help="Exactly what each --clip says, in order.")],
    out: Annotated[str, typer.Option("--bucket", help="Where the clips are stored: s3://bucket.")],
) -> None:
    """Register a voice made of one or more clips, each with its exact transcript."""
    if len(clips) != len(transcripts):
        fail(f"{len(clips)} --clip but {len(transcripts)} --transcript: give one transcript per clip, in order")

    def run() -> None:
        bucket, _ = parse_out(out if out.startswith("s3://") else f"s3://{out}")
        voice = prepare_clip_voice([ClipInput(path=c, transcript=t) for c, t in zip(clips, transcripts)])
        for warning in voice.warnings:
            warn(warning)
        named = book().add(name, voice, bucket=bucket)
        console.print(f"voice {named.name}: {len(named.clips)} clip(s), reference {named.reference_hash}", markup=False)

    guarded(run)


@voices_app.command("list")
def list_(as_json: Json = False) -> None:
    """Every reference: uses, state, Fish model, last use, one-shot bytes saved."""
    entries = guarded(lambda: book().entries())
    if as_json:
        print(json.dumps([_public(e) for e in entries], indent=2))
        return
    table = Table()
    for column in ("hash", "title", "uses", "state", "model id", "last used", "bytes saved"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            e["reference_hash"][:12],
            Text(e.get("title", "")),
            str(e["uses"]),
            Text(e.get("state", "")),
            e.get("model_id", ""),
            _when(e.get("last_used")),
            f"{e['bytes_saved']:,}",
        )
    console.print(table)


@voices_app.command("show")
def show(ref: Ref, as_json: Json = False) -> None:
    """One reference in full, with the reason of its last failure."""
    entry = guarded(lambda: book().entry(ref))
    if as_json:
        print(json.dumps(_public(entry), indent=2))
        return
    table = Table(show_header=False)
    for key in (
        "reference_hash",
        "title",
        "name",
        "state",
        "uses",
        "one_shot_uses",
        "id_uses",
        "bytes_saved",
        "model_id",
        "attempts",
        "reason",
    ):
        table.add_row(key, Text(str(entry.get(key, ""))))
    for key in ("created_at", "last_used", "training_started", "promoted_at"):
        table.add_row(key, _when(entry.get(key)))
    for clip in entry["clips"]:
        table.add_row("clip", Text(f"s3://{clip['bucket']}/{clip['key']}: {clip['transcript']}"))
    for lexicon in entry.get("lexicons", []):
        table.add_row("lexicon", Text(f"s3://{lexicon['bucket']}/{lexicon['key']}: {lexicon['name']}"))
    console.print(table)


@voices_app.command("promote")
def promote(
    ref: Annotated[str | None, typer.Argument(help="A voice NAME or reference hash.")] = None,
    voice: Annotated[Path | None, typer.Option("--voice", help="Or a clip, with --transcript and --bucket.")] = None,
    transcript: Annotated[str | None, typer.Option("--transcript", help="Exactly what --voice says.")] = None,
    bucket: Annotated[str | None, typer.Option("--bucket", help="Where to store --voice: s3://bucket.")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the voice is trained (or failed).")] = False,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds --wait waits at most.")] = 1800.0,
) -> None:
    """Promote a reference to a persistent Fish voice now, whatever N says."""
    voices = book()

    def run() -> str:
        if (ref is None) == (voice is None):
            raise BadInput("name one reference: a NAME or hash, or --voice CLIP --transcript T --bucket s3://B")
        if ref is not None:
            reference_hash, clips = voices.resolve(ref), None
        else:
            if not transcript or not bucket:
                raise BadInput("--voice needs --transcript and --bucket")
            prepared = prepare_clip_voice([ClipInput(path=voice, transcript=transcript)])  # type: ignore[arg-type]
            target, _ = parse_out(bucket if bucket.startswith("s3://") else f"s3://{bucket}")
            voices.storage.check_bucket(target)
            reference_hash, clips = prepared.reference_hash, upload_clips(voices.storage, target, prepared)
        started = voices.promote(reference_hash, clips=clips)
        state = (voices.registry.get(reference_hash) or {}).get("state")
        console.print(
            f"{reference_hash[:12]}: " + ("promotion started" if started else f"nothing to start ({state})"),
            markup=False,
        )
        return reference_hash

    reference_hash = guarded(run)
    if wait:
        deadline = time.monotonic() + timeout
        with console.status("waiting for the Fish voice to train"):
            while time.monotonic() < deadline:
                entry = voices.registry.get(reference_hash) or {}
                if entry.get("state") in ("trained", "failed", "demoted", "one_shot"):
                    break
                time.sleep(0.5)
        entry = voices.registry.get(reference_hash) or {}
        line = f"{reference_hash[:12]}: {entry.get('state')} {entry.get('model_id', '')} {entry.get('reason', '')}"
        console.print(line.rstrip(), markup=False)
        if entry.get("state") != "trained":
            raise typer.Exit(EXIT_JOB_FAILED)


@voices_app.command("demote")
def demote(
    ref: Ref, delete: Annotated[bool, typer.Option("--delete", help="Also delete the Fish voice.")] = False
) -> None:
    """Stop using the reference's Fish voice (renders go one-shot); keep the voice unless --delete."""
    voices = book()
    model_id = guarded(lambda: voices.demote(voices.resolve(ref), delete_model=delete))
    console.print(
        f"demoted; Fish voice {model_id or '(none)'} {'deleted' if delete and model_id else 'kept'}", markup=False
    )


@voices_app.command("delete")
def delete(ref: Ref) -> None:
    """Forget a reference (and its name), deleting its Fish voice if it has one."""
    voices = book()
    model_id = guarded(lambda: voices.delete(voices.resolve(ref)))
    console.print(f"deleted{f'; Fish voice {model_id} deleted' if model_id else ''}", markup=False)


@voices_app.command("update")
def update(
    ref: Ref,
    title: Annotated[str | None, typer.Option("--title", help="New title of the Fish voice.")] = None,
    tags: Annotated[str | None, typer.Option("--tags", help="Comma-separated tags (the hash tag is kept).")] = None,
    lexicon: Annotated[
        list[Path] | None,
        typer.Option(
            "--lexicon",
            metavar="FILE",
            help="Attach these lexicons to a named voice (replacing its own); they apply first wherever it speaks.",
        ),
    ] = None,
    no_lexicon: Annotated[
        bool, typer.Option("--no-lexicon", help="Detach every lexicon from the named voice.")
    ] = False,
) -> None:
    """Attach pronunciation lexicons to a named voice; rename or retag the reference's Fish voice."""
    if title is None and tags is None and lexicon is None and not no_lexicon:
        fail("nothing to update: pass --lexicon, --no-lexicon, --title or --tags")
    if lexicon and no_lexicon:
        fail("pass either --lexicon or --no-lexicon, not both")
    voices = book()
    if lexicon is not None or no_lexicon:
        named = guarded(lambda: voices.set_lexicons(ref, read_lexicon_files(lexicon)))
        attached = ", ".join(f"{r.name} ({r.sha256[:12]})" for r in named.lexicons) or "none"
        console.print(f"voice {named.name}: lexicons {attached}", markup=False)
        if title is None and tags is None:
            return
    tag_list = [t.strip() for t in tags.split(",") if t.strip()] if tags is not None else None
    model_id = guarded(lambda: voices.update(voices.resolve(ref), title=title, tags=tag_list))
    console.print(f"updated Fish voice {model_id}", markup=False)


@voices_app.command("sync")
def sync(as_json: Json = False) -> None:
    """Re-link this account's Fish voices to their references by tag (after Redis lost them)."""
    linked, unchanged = guarded(lambda: book().sync())
    if as_json:
        print(json.dumps({"linked": linked, "unchanged": unchanged}))
    else:
        console.print(f"linked {len(linked)} reference(s); {len(unchanged)} already linked", markup=False)


@voices_app.command("gc")
def gc(
    unused_days: Annotated[float, typer.Option("--unused-days", help="Delete Fish voices unused for this many days.")],
    apply: Annotated[bool, typer.Option("--apply", help="Delete for real (default: only show).")] = False,
    as_json: Json = False,
) -> None:
    """Delete promoted voices nobody used for D days. A dry run unless --apply."""
    voices = book()
    stale = guarded(lambda: voices.unused(days=unused_days))
    if apply:
        for entry in stale:
            guarded(lambda entry=entry: voices.retire(entry, days=unused_days))
    rows = [
        {
            "reference_hash": e["reference_hash"],
            "model_id": e["model_id"],
            "title": e.get("title", ""),
            "last_used": _when(e.get("last_used")),
        }
        for e in stale
    ]
    if as_json:
        print(json.dumps({"applied": apply, "voices": rows}))
        return
    verb = "deleted" if apply else "would delete"
    for row in rows:
        console.print(
            f"{verb} {row['model_id']} ({row['reference_hash'][:12]} {row['title']},"
            f" last used {row['last_used'] or 'never'})",
            markup=False,
        )
    console.print(
        f"{verb} {len(rows)} Fish voice(s)" + ("" if apply else "; run again with --apply to delete"), markup=False
    )
