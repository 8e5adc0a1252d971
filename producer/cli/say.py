"""`narrate say`: one line through the same path as any job (queue, worker, Fish, S3), saved here, to try a lexicon
entry."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from producer.cli import options, progress
from producer.cli.console import EXIT_JOB_FAILED, console, errors, fail, settings_or_exit, warn
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.text import TextSource
from producer.submit.clips import PreparedVoice
from producer.submit.jobs import Submitter, check_format, parse_out
from producer.submit.lexicons import read_lexicon_files, with_voice_lexicons
from producer.submit.voice_options import voice_from_options
from worker.contract import RenderJob
from worker.errors import BadInput, NarrateError
from worker.jobs.records import JobRecord, JobStore
from worker.settings import Settings
from worker.storage import Storage
from worker.text.lexicon import Replaced
from worker.text.normalize import normalize_text

# Players tried in order for --play: whichever this machine has.
PLAYERS = (["ffplay", "-nodisp", "-autoexit", "-loglevel", "quiet"], ["afplay"], ["paplay"], ["aplay", "-q"])
MAX_SAY_BYTES = 2000  # one line to listen to, not a chapter: longer text goes through `narrate submit`


def register(app: typer.Typer) -> None:
    """Add `narrate say` to the `narrate` app."""
    app.command()(say)


def say(
    text: Annotated[str, typer.Argument(help="The line to render, e.g. \"Hermione laughed.\"; '-' reads stdin.")],
    out: options.Out = None,
    voice: options.Voice = None,
    transcript: options.Transcript = None,
    transcript_file: options.TranscriptFile = None,
    voice_id: options.VoiceId = None,
    lexicon: options.Lexicon = None,
    fmt: options.Format = "mp3",
    save: Annotated[
        Path | None, typer.Option("--save", help="Where to save the audio (default: say.FORMAT here).")
    ] = None,
    play: Annotated[bool, typer.Option("--play", help="Play it once saved (ffplay, afplay, paplay or aplay).")] = False,
    qc: options.Qc = None,
    qc_retakes: options.QcRetakes = None,
    timeout: options.Timeout = 120.0,
    as_json: options.Json = False,
) -> None:
    """Render one line in a voice, with lexicons, and save it (or play it): try an entry in seconds.

    It is a job like any other: it is queued, counted as a use of the voice and billed.
    """
    settings = settings_or_exit()
    if out is None:
        fail("--out is required: where the job's audio is written, e.g. --out s3://my-bucket/tries")
    line = normalize_text(sys.stdin.read() if text == "-" else text)
    voice_options = {"voice": voice, "transcript": transcript, "transcript_file": transcript_file, "voice_id": voice_id}
    try:
        job, bucket, heard = _submit_line(
            settings,
            line,
            out=out,
            fmt=fmt,
            lexicon=lexicon,
            voice_options=voice_options,
            qc=QcChoice(mode=qc, retakes=qc_retakes),
        )
    except BadInput as exc:
        fail(str(exc))
    except NarrateError as exc:
        fail(str(exc), code=EXIT_JOB_FAILED)
    target = save or Path(f"say.{fmt}")
    record = _wait_and_save(settings, job.job_id, bucket=bucket, target=target, timeout=timeout)
    said = {
        "job_id": job.job_id,
        "saved": str(target),
        "output_url": record.output_url,
        "fish_read": heard.text,
        "entries": sorted({word for _, _, word in heard.spans}),
        "seconds": record.duration_seconds,
    }
    if as_json:
        print(json.dumps(said, ensure_ascii=False))
    else:
        console.print(f"saved {target} ({record.duration_seconds:.1f} s); Fish read: {heard.text}", markup=False)
    if play:
        _play(target)


def _submit_line(
    settings: Settings,
    line: str,
    *,
    out: str,
    fmt: str,
    lexicon: list[Path] | None,
    voice_options: dict[str, Any],
    qc: QcChoice = NOT_ASKED,
) -> tuple[RenderJob, str, Replaced]:
    """The line checked and submitted as a job; with its bucket and what Fish reads once the lexicons are applied."""
    if not line:
        raise BadInput('nothing to say: pass the words, e.g. narrate say "Hermione laughed." --voice NAME')
    if len(line.encode()) > MAX_SAY_BYTES:
        raise BadInput(
            f"the line is {len(line.encode()):,} bytes, over {MAX_SAY_BYTES:,}: `narrate say` is for a line;"
            " render longer text with `narrate submit`"
        )
    check_format(fmt)
    bucket, _ = parse_out(out)
    chosen = voice_from_options(settings, **voice_options)
    for warning in chosen.warnings if isinstance(chosen, PreparedVoice) else []:
        warn(warning)
    submitter = Submitter.from_settings(settings)
    lexicons = read_lexicon_files(lexicon)
    heard = with_voice_lexicons(Storage.from_settings(settings), chosen, lexicons).lexicon.apply(line)
    [job] = submitter.submit(
        sources=[TextSource("say", line)], voice=chosen, out=out, fmt=fmt, lexicons=lexicons, qc=qc
    )
    return job, bucket, heard


def _wait_and_save(settings: Settings, job_id: str, *, bucket: str, target: Path, timeout: float | None) -> JobRecord:
    """Wait for the job, then save its audio to `target`; exits 1 when it failed, timed out or its audio is gone."""
    [record] = progress.wait_for(
        JobStore.from_url(settings.broker_url, master_name=settings.redis_master_name),
        [job_id],
        console=errors,
        timeout=timeout,
    )
    if record.state != "succeeded":
        fail(f"job {job_id} {record.state}: {record.error or 'not finished in time'}", code=EXIT_JOB_FAILED)
    key = record.output_url.removeprefix(f"s3://{bucket}/")
    data = Storage.from_settings(settings).get(bucket, key)
    if data is None:
        fail(f"{record.output_url} is gone already; run the command again", code=EXIT_JOB_FAILED)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return record


def _play(path: Path) -> None:
    for player in PLAYERS:
        if shutil.which(player[0]):
            subprocess.run([*player, str(path)], check=False)
            return
    warn(f"--play: no player found ({', '.join(p[0] for p in PLAYERS)}); the audio is saved at {path}")
