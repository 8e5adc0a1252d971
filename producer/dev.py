"""`narrate dev`: the embedded default. Start a local stack, render, save to ./out, stop.

With FISH_API_KEY set the stack has no emulator and the worker renders through
the Fish Audio cloud; Redis and S3 stay local either way.
"""

from __future__ import annotations

import hashlib
import os
import signal
import tempfile
from pathlib import Path
from types import FrameType

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from producer import progress
from producer.devstack import LocalStack, StackError
from producer.sample import reference_transcript, sample_parts
from producer.sources import read_text
from producer.submit import ClipInput, Submitter, check_format, prepare_clip_voice
from worker.errors import BadInput, NarrateError
from worker.records import JobRecord, JobStore
from worker.settings import Settings
from worker.storage import Storage

DEV_BUCKET = "narrate-dev"


def sample_reference_clip() -> Path:
    """The sample's reference clip, spoken by the emulator's speech engine on first use."""
    transcript = reference_transcript()
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "narrate"
    path = cache / f"sample-reference-{hashlib.sha256(transcript.encode()).hexdigest()[:12]}.wav"
    if not path.exists():
        from worker.emulator.speech import make_reference_clip

        cache.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(make_reference_clip(transcript))
        partial.replace(path)
    return path


def _stop_on_sigterm() -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def run_dev(
    *,
    files: list[str],
    out_dir: Path,
    fmt: str,
    voice: Path | None,
    transcript: str | None,
    emulator_latency: float = 0.0,
    console: Console,
    errors: Console,
) -> int:
    try:
        check_format(fmt)
        sources = [read_text(f) for f in files] if files else [read_text(str(p)) for p in sample_parts()]
        if voice is None:
            voice, transcript = sample_reference_clip(), reference_transcript()
        prepared = prepare_clip_voice([ClipInput(path=voice, transcript=transcript or "")])
    except BadInput as exc:
        errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
        return 2
    for warning in prepared.warnings:
        errors.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)

    _stop_on_sigterm()
    cloud_key = os.environ.get("FISH_API_KEY") or None
    with tempfile.TemporaryDirectory(prefix="narrate-dev-") as workdir:
        options = {"latency": str(emulator_latency)} if emulator_latency else {}
        stack = LocalStack(workdir=Path(workdir), fish_api_key=cloud_key, emulator_options=options)
        try:
            with console.status("starting Redis, S3" + ("" if cloud_key else ", the Fish emulator") + " and a worker"):
                stack.start()
                stack.add_worker(concurrency=2)
            target = "the Fish Audio cloud" if cloud_key else f"the Fish emulator at {stack.emulator.url}"  # type: ignore[union-attr]
            console.print(f"stack up: Redis {stack.redis.url}, S3 {stack.s3.url}, rendering with {target}")  # type: ignore[union-attr]
            env = stack.env()
            os.environ.update(env)  # boto3 in this process reads AWS_ENDPOINT_URL and keys from here
            settings = Settings(broker_url=env["NARRATE_BROKER_URL"])
            storage = Storage()
            storage.create_bucket(DEV_BUCKET)
            submitter = Submitter.from_settings(settings)
            jobs = submitter.submit(sources=sources, voice=prepared, out=f"s3://{DEV_BUCKET}/demo", fmt=fmt)
            console.print(f"submitted {len(jobs)} job(s) from {', '.join(s.name for s in sources)}")
            store = JobStore.from_url(settings.broker_url)
            records = progress.wait_for(store, [j.job_id for j in jobs], console=console)
            saved = _download(storage, records, out_dir=out_dir)
            console.print(_summary_table(records))
            if saved:
                console.print(f"saved {len(saved)} audio file(s) and their manifests to {out_dir}/", markup=False)
            return 0 if all(r.state == "succeeded" for r in records) else 1
        except KeyboardInterrupt:
            errors.print("interrupted: stopping the local stack")
            return 130
        except (StackError, NarrateError) as exc:
            errors.print(f"[red]error:[/] {escape(str(exc))}", highlight=False)
            for worker in stack.workers:
                errors.print(f"--- {worker.name} log ---\n{escape(worker.log_tail())}", highlight=False)
            return 1
        finally:
            stack.stop()


def _download(storage: Storage, records: list[JobRecord], *, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: dict[str, Path] = {}
    for record in records:
        if record.state != "succeeded":
            continue
        for url in (record.output_url, record.manifest_url):
            bucket, key = url.removeprefix("s3://").split("/", 1)
            data = storage.get(bucket, key)
            if data is None:
                continue
            stem = Path(record.title).stem or record.job_id
            target = out_dir / f"{stem}{Path(key).suffix}"
            target.write_bytes(data)
            if url == record.output_url:
                saved[record.job_id] = target
    return saved


def _summary_table(records: list[JobRecord]) -> Table:
    table = Table(title="narrate dev: results")
    table.add_column("job", no_wrap=True)
    table.add_column("state")
    table.add_column("voice mode", no_wrap=True)
    table.add_column("duration", justify="right", no_wrap=True)
    table.add_column("S3 URL", overflow="fold")
    for record in records:
        table.add_row(
            record.job_id[:8],
            record.state if record.state != "failed" else f"[red]failed[/]: {escape(record.error)}",
            record.voice_mode,
            f"{record.duration_seconds:.1f}s" if record.duration_seconds else "",
            record.output_url,
        )
    return table



