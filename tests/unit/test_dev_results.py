"""`narrate dev`'s results: a table for 80 columns, the URLs in --json."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from producer.dev.results import Saved, results_json, summary_table
from worker.jobs.records import JobRecord

URL = "s3://narrate-dev/demo/" + "a" * 32


def records() -> list[JobRecord]:
    ok = JobRecord(
        job_id="a" * 32,
        state="succeeded",
        title="01-the-wager.txt",
        voice_mode="one_shot",
        duration_seconds=5.9,
        output_url=URL + ".mp3",
        manifest_url=URL + ".json",
    )
    trained = JobRecord(
        job_id="c" * 32,
        state="succeeded",
        title="03-the-sun.txt",
        voice_mode="reference_id",
        duration_seconds=13.3,
        output_url=URL + "c.mp3",
        manifest_url=URL + "c.json",
    )
    bad = JobRecord(job_id="b" * 32, state="failed", title="[draft].txt", error="bad [bold]input[/bold]: fix it")
    return [ok, trained, bad]


def saved() -> dict[str, Saved]:
    return {
        "a" * 32: Saved(Path("out/01-the-wager.mp3"), {"reference_bytes_sent": 475_903}),
        "c" * 32: Saved(Path("out/03-the-sun.mp3"), {"reference_bytes_sent": 0}),
    }


def test_the_table_fits_80_columns_and_prints_brackets_as_written() -> None:
    buffer = io.StringIO()
    Console(file=buffer, width=80, markup=False).print(summary_table(records(), saved()))
    text = buffer.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "out/01-the-wager.mp3" in text and "out/03-the-sun.mp3" in text and "475,903" in text
    assert "bbbbbbbb failed: bad [bold]input[/bold]: fix it" in text
    assert "s3://" not in text


def test_json_carries_the_urls_and_the_saved_files() -> None:
    result = results_json(records(), saved(), {"reference_hash": "c" * 64, "uses": 3, "bytes_saved": 10})
    ok, _, bad = result["jobs"]
    assert (
        ok["output_url"] == URL + ".mp3"
        and ok["manifest_url"] == URL + ".json"
        and ok["saved_to"] == "out/01-the-wager.mp3"
    )
    assert ok["reference_bytes_sent"] == 475_903
    assert bad["saved_to"] is None and bad["error"] == "bad [bold]input[/bold]: fix it"
    assert result["voice"]["uses"] == 3
