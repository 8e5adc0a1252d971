"""What every benchmark shares: figures with medians and targets, the machine, the table, the JSON.

A figure is one measured quantity over several runs: the table shows its
median, min and max, and whether the median meets its target.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import psutil
from rich.console import Console
from rich.table import Table

from producer.dev.stack import LocalStack

console = Console(stderr=True)  # progress lines; the table goes to stdout


@dataclass
class Figure:
    scenario: str
    metric: str
    unit: str
    values: list[float]
    target: str = ""  # e.g. ">= 0.90", "< 300"; empty: reported, not judged
    note: str = ""
    extra: dict[str, float | int | str] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def met(self) -> bool | None:
        if not self.target:
            return None
        op, _, bound = self.target.partition(" ")
        value, limit = self.median, float(bound)
        return {">=": value >= limit, ">": value > limit, "<=": value <= limit, "<": value < limit}[op]

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data.update(median=self.median, min=min(self.values), max=max(self.values), runs=len(self.values), met=self.met)
        return data


def machine() -> dict[str, object]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        model = platform.processor()
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model or "unknown",
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
        "taken_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def table(figures: list[Figure], *, title: str = "narrate benchmarks") -> Table:
    out = Table(title=title)
    for column, justify in (
        ("scenario", "left"),
        ("metric", "left"),
        ("median", "right"),
        ("min", "right"),
        ("max", "right"),
        ("runs", "right"),
        ("target", "left"),
        ("", "left"),
    ):
        out.add_column(column, justify=justify)  # type: ignore[arg-type]
    for f in figures:
        verdict = {True: "ok", False: "MISSED", None: ""}[f.met]
        out.add_row(
            f.scenario,
            f"{f.metric} ({f.unit})" if f.unit else f.metric,
            _number(f.median),
            _number(min(f.values)),
            _number(max(f.values)),
            str(len(f.values)),
            f.target,
            verdict,
        )
    return out


def report(figures: list[Figure], *, path: Path, started: float, title: str = "narrate benchmarks") -> None:
    """Print the table to stdout and write it, with the machine, as JSON."""
    Console(width=max(120, Console().width)).print(table(figures, title=title))
    for f in figures:
        if f.note:
            print(f"  {f.scenario} / {f.metric}: {f.note}")
    data = {
        "machine": machine(),
        "wall_seconds": round(time.monotonic() - started, 1),
        "figures": [f.to_json() for f in figures],
    }
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"written {path}")


@contextmanager
def stack(name: str, *, emulator: dict[str, str | bool] | None = None) -> Iterator[LocalStack]:
    """A fresh local stack (Redis, S3, emulator) in a temporary folder, stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix=f"narrate-bench-{name}-") as folder:
        with LocalStack(workdir=Path(folder), emulator_options=emulator) as local:
            yield local


def runs_from_argv(default: int = 3) -> int:
    """`python -m tests.bench.X [RUNS]`: how many runs each figure takes the median of."""
    return int(sys.argv[1]) if len(sys.argv) > 1 else default


def log(message: str) -> None:
    console.print(f"[dim]bench[/dim] {message}", highlight=False)


def point_process_at(local: LocalStack, **extra: str) -> dict[str, str]:
    """Make this process's settings and boto3 use the stack; returns the environment set."""
    from worker.settings import get_settings

    env = {**local.env(), **extra}
    os.environ.update(env)
    get_settings.cache_clear()
    return env


def emulator_stats(local: LocalStack) -> dict:
    """What the emulator has received so far (GET /_emulator/stats)."""
    import httpx

    return httpx.get(f"{local.env()['NARRATE_FISH_BASE_URL']}/_emulator/stats", timeout=10).json()


def make_bucket(name: str) -> str:
    import boto3

    boto3.client("s3").create_bucket(Bucket=name)
    return name


def trained_voice(local: LocalStack) -> str:
    """A persistent Fish voice on the emulator, made through the SDK as a user's own voice would be."""
    from fishaudio import FishAudio

    from producer.dev.run import sample_reference_clip
    from producer.dev.sample import reference_transcript

    env = local.env()
    client = FishAudio(api_key=env["FISH_API_KEY"], base_url=env["NARRATE_FISH_BASE_URL"])
    voice = client.voices.create(
        title="benchmark voice",
        voices=[sample_reference_clip().read_bytes()],
        texts=[reference_transcript()],
        visibility="private",
    )
    return voice.id


def sentences(count: int) -> list[str]:
    """Distinct texts of one or two sentences each, as short narration jobs are."""
    return [
        f"Item {n} of the batch is ready. It carries one more short sentence." if n % 2 else f"This is job number {n}."
        for n in range(count)
    ]


def wait_for_succeeded(broker_url: str, count: int, *, timeout: float, poll: float = 0.02) -> float:
    """Block until `count` jobs are recorded succeeded; return the monotonic time it happened."""
    import redis

    from worker import keys

    client = redis.Redis.from_url(broker_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = client.zcard(keys.jobs_in_state("succeeded"))
        if done >= count:
            return time.monotonic()
        failed = client.zcard(keys.jobs_in_state("failed"))
        if failed:
            raise RuntimeError(f"{failed} benchmark jobs failed; see the worker log")
        time.sleep(poll)
    raise TimeoutError(
        f"only {client.zcard(keys.jobs_in_state('succeeded'))} of {count} jobs succeeded in {timeout:.0f}s"
    )
