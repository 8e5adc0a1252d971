"""`narrate dev`: the embedded default. Start a local stack, render, save to ./out, stop.

With FISH_API_KEY set the stack has no emulator and the worker renders through
the Fish Audio cloud; Redis and S3 stay local either way.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from rich.console import Console

from producer.cli import progress
from producer.cli.console import say_error, say_warning
from producer.dev.books import render_book
from producer.dev.results import download, promotion_summary, results_json, summary_table
from producer.dev.sample import reference_transcript, sample_parts
from producer.dev.services import StackError
from producer.dev.stack import LocalStack
from producer.readers.books import BookText, is_book, read_book
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice, choose
from producer.readers.text import TextSource, read_text
from producer.submit.clips import ClipInput, PreparedVoice, prepare_clip_voice
from producer.submit.jobs import Submitter, check_format
from producer.submit.lexicons import Lexicons
from producer.submit.read_along import ReadAlongSource
from worker.contract import Synthesis
from worker.errors import BadInput, NarrateError
from worker.jobs.records import JobRecord, JobStore
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.registry import Registry

DEV_BUCKET = "narrate-dev"


def sample_reference_clip() -> Path:
    """The sample's reference clip, spoken by the emulator's speech engine on first use."""
    transcript = reference_transcript()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "narrate"
    path = cache / f"sample-reference-{hashlib.sha256(transcript.encode()).hexdigest()[:12]}.wav"
    if not path.exists():
        from producer.dev.emulator.speech import make_reference_clip

        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(make_reference_clip(transcript))
        partial.replace(path)
    return path


def stop_on_signals() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)
    # Started in the background by a shell, Python inherits SIGINT ignored:
    # Ctrl-C (or kill -INT) must still stop it.
    signal.signal(signal.SIGINT, signal.default_int_handler)


@dataclass(frozen=True)
class _Inputs:
    """What `narrate dev` renders, read and checked before anything starts: books, or else texts."""

    books: list[BookText]
    book_files: list[Path]  # each book's file, for --read-along
    texts: list[TextSource]
    voice: PreparedVoice


def run_dev(
    *,
    files: list[str],
    out_dir: Path,
    fmt: str,
    preset: str | None = None,
    chapters: ChapterChoice = ChapterChoice(),
    synthesis: Synthesis = Synthesis(),
    lexicons: Lexicons = Lexicons(),
    qc: QcChoice = NOT_ASKED,
    read_along: bool = False,
    voice: Path | None,
    transcript: str | None,
    emulator_latency: float = 0.0,
    faults: float = 0.0,
    flower: int | None = None,
    console: Console,
    errors: Console,
    as_json: bool = False,
) -> int:
    """Everything `narrate dev` does; `console` takes progress, stdout the results (a table, or JSON)."""
    try:
        inputs = _read_inputs(files, fmt=fmt, chapters=chapters, voice=voice, transcript=transcript)
    except BadInput as exc:
        say_error(str(exc), to=errors)
        return 2
    for warning in inputs.voice.warnings:
        say_warning(warning, to=errors)

    stop_on_signals()
    cloud_key = os.environ.get("FISH_API_KEY") or None
    with tempfile.TemporaryDirectory(prefix="narrate-dev-") as workdir:
        options = _emulator_options(latency=emulator_latency, faults=faults)
        interrupted = False
        stack = LocalStack(workdir=Path(workdir), fish_api_key=cloud_key, emulator_options=options)
        try:
            settings, storage = _start(stack, console=console, cloud_key=cloud_key, flower=flower)
            if inputs.books:
                ok = [
                    render_book(
                        settings,
                        book,
                        voice=inputs.voice,
                        bucket=DEV_BUCKET,
                        fmt=fmt,
                        preset=preset,
                        chapters=chapters,
                        synthesis=synthesis,
                        lexicons=lexicons,
                        qc=qc,
                        read_along=ReadAlongSource.of(file) if read_along else None,
                        out_dir=out_dir,
                        console=console,
                    )
                    for book, file in zip(inputs.books, inputs.book_files, strict=True)
                ]
                return 0 if all(ok) else 1
            records = _render_in_order(
                settings,
                sources=inputs.texts,
                voice=inputs.voice,
                fmt=fmt,
                console=console,
                synthesis=synthesis,
                lexicons=lexicons,
                qc=qc,
            )
            code = _show_results(
                settings, storage, records, inputs.voice, out_dir=out_dir, console=console, as_json=as_json
            )
            return _stay_for_flower(console, code) if flower is not None else code
        except KeyboardInterrupt:
            errors.print("interrupted: stopping the local stack")
            interrupted = True
            return 130
        except (StackError, NarrateError) as exc:
            say_error(str(exc), to=errors)
            for worker in stack.workers:
                errors.print(f"--- {worker.name} log ---\n{worker.log_tail()}", highlight=False, markup=False)
            return 1
        finally:
            # Interrupted, the jobs in hand are abandoned anyway:
            # do not wait out their renders, nor Celery's shutdown.
            stack.stop(grace_seconds=3.0 if interrupted else 10.0, kill=interrupted)


def _emulator_options(*, latency: float, faults: float) -> dict[str, str | bool]:
    """The emulator's flags: its latency, and with `faults` that share of takes spoiled per kind, 3 % of words
    misheard (what a recognizer does to clean speech)."""
    options: dict[str, str | bool] = {"latency": str(latency)} if latency else {}
    if faults:
        options |= {f"fault_{kind}": str(faults) for kind in ("drop", "repeat", "garble", "cut")}
        options["asr_noise"] = "0.03"
    return options


def _read_inputs(
    files: list[str], *, fmt: str, chapters: ChapterChoice, voice: Path | None, transcript: str | None
) -> _Inputs:
    """The books or texts named (the sample's parts when none is) and the voice, or BadInput."""
    check_format(fmt)
    books = [f for f in files if is_book(f)]
    if books and len(books) != len(files):
        raise BadInput("pass either books (.epub, .md) or text files to `narrate dev`, not both")
    book_texts = [choose(read_book(book), chapters) for book in books]  # refuse a bad book before starting anything
    texts = [] if books else [read_text(f) for f in files] if files else [read_text(str(p)) for p in sample_parts()]
    if voice is None:
        voice, transcript = sample_reference_clip(), reference_transcript()
    prepared = prepare_clip_voice([ClipInput(path=voice, transcript=transcript or "")])
    return _Inputs(books=book_texts, book_files=[Path(b) for b in books], texts=texts, voice=prepared)


def _start(
    stack: LocalStack, *, console: Console, cloud_key: str | None, flower: int | None
) -> tuple[Settings, Storage]:
    """Start the stack and a worker (and Flower when asked); point this process at it and make the bucket."""
    with console.status("starting Redis, S3" + ("" if cloud_key else ", the Fish emulator") + " and a worker"):
        stack.start()
        stack.add_worker(concurrency=2, extra_env=_demo_promotion_settings())
    if flower is not None:
        with console.status("starting Flower"):
            console.print(
                f"Flower (task events of the local stack) at {stack.add_flower(port=flower or None).url}",
                markup=False,
            )
    assert stack.redis and stack.s3, "started above"
    emulator = stack.emulator  # none when rendering with a real Fish key
    target = f"the Fish emulator at {emulator.url}" if emulator is not None else "the Fish Audio cloud"
    console.print(f"stack up: Redis {stack.redis.url}, S3 {stack.s3.url}, rendering with {target}", markup=False)
    env = stack.env()
    os.environ.update(env)  # boto3 in this process reads AWS_ENDPOINT_URL and keys from here
    settings = Settings(broker_url=env["NARRATE_BROKER_URL"])
    storage = Storage()
    storage.create_bucket(DEV_BUCKET)
    return settings, storage


def _show_results(
    settings: Settings,
    storage: Storage,
    records: list[JobRecord],
    voice: PreparedVoice,
    *,
    out_dir: Path,
    console: Console,
    as_json: bool,
) -> int:
    """Save the finished audio and manifests, print the results and the voice's promotion; 0 when all succeeded."""
    saved = download(storage, records, out_dir=out_dir)
    registry = Registry.from_url(settings.broker_url, master_name=settings.redis_master_name)
    entry = registry.get(voice.reference_hash) or {}
    if as_json:
        print(json.dumps(results_json(records, saved, entry), indent=2))
    else:
        console.print(summary_table(records, saved))
        console.print(promotion_summary(entry), markup=False)
    if saved:
        console.print(f"saved {len(saved)} audio file(s) and their manifests to {out_dir}/", markup=False)
    return 0 if all(r.state == "succeeded" for r in records) else 1


def _stay_for_flower(console: Console, code: int) -> int:
    """With Flower, the stack stays up to be looked at until Ctrl-C, which is then the normal way out."""
    console.print("the stack stays up for Flower: Ctrl-C stops it", markup=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return code


def _demo_promotion_settings() -> dict[str, str]:
    """Promote after the first use (unless NARRATE_PROMOTE_AFTER says otherwise), so the demo shows it."""
    return {
        "NARRATE_PROMOTE_AFTER": os.environ.get("NARRATE_PROMOTE_AFTER", "1"),
        "NARRATE_PROMOTE_POLL_SECONDS": "0.5",
    }


def _render_in_order(
    settings: Settings,
    *,
    sources: list[TextSource],
    voice: PreparedVoice,
    fmt: str,
    console: Console,
    synthesis: Synthesis,
    lexicons: Lexicons,
    qc: QcChoice = NOT_ASKED,
) -> list[JobRecord]:
    """One part after another, so the switch from one-shot to the trained voice can be seen."""
    submitter = Submitter.from_settings(settings)
    store = JobStore.from_url(settings.broker_url, master_name=settings.redis_master_name)
    registry = Registry.from_url(settings.broker_url, master_name=settings.redis_master_name)
    records: list[JobRecord] = []
    for number, source in enumerate(sources, start=1):
        _wait_for_promotion(registry, voice.reference_hash, console=console)
        [job] = submitter.submit(
            sources=[source],
            voice=voice,
            out=f"s3://{DEV_BUCKET}/demo",
            fmt=fmt,
            synthesis=synthesis,
            lexicons=lexicons,
            qc=qc,
        )
        console.print(f"submitted {source.name} ({number}/{len(sources)})", markup=False)
        records += progress.wait_for(store, [job.job_id], console=console)
    return records


def _wait_for_promotion(registry: Registry, reference_hash: str, *, console: Console, timeout: float = 30.0) -> None:
    training = ("promoting", "training")
    entry = registry.get(reference_hash) or {}
    if entry.get("state") not in training:
        return
    deadline = time.monotonic() + timeout
    with console.status(f"reference {reference_hash[:12]} used {entry['uses']} times: training a Fish voice"):
        while (registry.get(reference_hash) or {}).get("state") in training and time.monotonic() < deadline:
            time.sleep(0.2)
