"""What `narrate dev` shows when its texts are rendered: the files it saved, a table for 80 columns, or JSON.

The table names the local files; the S3 URLs are in `--json` and in each job's manifest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich import box
from rich.table import Table
from rich.text import Text

from worker.jobs.records import JobRecord
from worker.storage import Storage


@dataclass(frozen=True)
class Saved:
    """A finished job's audio as saved locally, with its manifest."""

    audio: Path
    manifest: dict[str, Any]


def download(storage: Storage, records: list[JobRecord], *, out_dir: Path) -> dict[str, Saved]:
    """Save each finished job's audio and manifest to `out_dir`, by job id."""
    out_dir.mkdir(parents=True, exist_ok=True)
    saved: dict[str, Saved] = {}
    for record in records:
        if record.state != "succeeded":
            continue
        stem = Path(record.title).stem or record.job_id
        files = {}
        for url in (record.output_url, record.manifest_url):
            bucket, key = url.removeprefix("s3://").split("/", 1)
            data = storage.get(bucket, key)
            if data is not None:
                files[url] = out_dir / f"{stem}{Path(key).suffix}"
                files[url].write_bytes(data)
        if record.output_url in files and record.manifest_url in files:
            saved[record.job_id] = Saved(files[record.output_url], json.loads(files[record.manifest_url].read_bytes()))
    return saved


def summary_table(records: list[JobRecord], saved: dict[str, Saved]) -> Table:
    """Fits 80 columns: the local file, not the S3 URL (that is in --json and in each manifest)."""
    table = Table(title="narrate dev: results", box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    table.add_column("job", no_wrap=True)
    table.add_column("state", no_wrap=True)
    table.add_column("voice mode", no_wrap=True)
    table.add_column("ref bytes", justify="right", no_wrap=True)
    table.add_column("length", justify="right", no_wrap=True)
    heard = any(job.manifest.get("qc") for job in saved.values())  # a column only when something was heard
    if heard:
        table.add_column("heard", no_wrap=True)
    table.add_column("saved to", no_wrap=True)
    notes = Text("ref bytes: the reference audio these requests sent to Fish, as sent (FLAC for a WAV clip)")
    for record in records:
        job = saved.get(record.job_id)
        table.add_row(
            record.job_id[:8],
            Text(record.state, style="red" if record.state == "failed" else ""),
            record.voice_mode,
            f"{job.manifest['reference_bytes_sent']:,}" if job else "",
            f"{record.duration_seconds:.1f}s" if record.duration_seconds else "",
            *([heard_summary(job.manifest.get("qc")) if job else ""] if heard else []),
            str(job.audio) if job else "",
        )
        if record.error and record.state != "succeeded":  # errors are long: below, not in a cell
            notes.append(f"\n{record.job_id[:8]} {record.state}: {record.error}")
    table.caption, table.caption_justify = notes, "left"
    return table


def heard_summary(qc: dict[str, Any] | None) -> str:
    """Proof-listening in a few words: takes heard, retakes, chunks left failing (for a person to hear)."""
    if not qc or "takes_heard" not in qc:
        return "not heard"
    retakes, failing = qc["retakes"], qc["left_failing"]
    words = f"{qc['takes_heard']} takes, {retakes} retake{'s' * (retakes != 1)}"
    return words + (f", {failing} failing" if failing else "")


def results_json(records: list[JobRecord], saved: dict[str, Saved], entry: dict[str, Any]) -> dict[str, Any]:
    jobs = []
    for record in records:
        job = saved.get(record.job_id)
        jobs.append(
            {
                "job_id": record.job_id,
                "title": record.title,
                "state": record.state,
                "error": record.error,
                "voice_mode": record.voice_mode,
                "duration_seconds": record.duration_seconds,
                "reference_bytes_sent": job.manifest["reference_bytes_sent"] if job else None,
                "output_url": record.output_url,
                "manifest_url": record.manifest_url,
                "saved_to": str(job.audio) if job else None,
                "qc": job.manifest.get("qc") if job else None,
            }
        )
    voice = {
        k: entry.get(k) for k in ("reference_hash", "uses", "state", "model_id", "reason", "bytes_saved", "wire_bytes")
    }
    return {"jobs": jobs, "voice": voice}


def promotion_summary(entry: dict) -> str:
    if not entry:
        return "voice: not in the registry"
    head = f"voice {entry['reference_hash'][:12]}: {entry['uses']} uses, {entry['state']}"
    if entry.get("model_id"):
        head += f" as Fish voice {entry['model_id']}"
    if entry.get("reason"):
        head += f" ({entry['reason']})"
    return f"{head}; one-shot bytes saved: {entry['bytes_saved']:,} (as sent on the wire)"
