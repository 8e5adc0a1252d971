"""Run every benchmark, each in its own process with its own stack; print one table, write bench-results.json.

python -m tests.bench            # what `make bench` runs
python -m tests.bench enqueue    # only some, by name
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from tests.bench.harness import Figure, log, report

BENCHMARKS = ("throughput", "bytes_to_fish", "enqueue", "assembly", "overhead", "hearing", "hearing_loop")
RESULTS = Path("bench-results.json")


def run(name: str) -> list[Figure]:
    """One benchmark script; its progress lines pass through, its figures come back from its JSON."""
    started = time.monotonic()
    log(f"{name}: starting")
    result = subprocess.run(
        [sys.executable, "-m", f"tests.bench.{name}"], stdout=subprocess.PIPE, text=True, check=False
    )
    if result.returncode != 0:
        print(result.stdout, file=sys.stderr)
        raise SystemExit(f"benchmark {name} failed (exit {result.returncode}); its output is above")
    data = json.loads(Path(f"bench-results-{_short(name)}.json").read_text())
    log(f"{name}: done in {time.monotonic() - started:.0f} s")
    return [
        Figure(**{k: f[k] for k in ("scenario", "metric", "unit", "values", "target", "note", "extra")})
        for f in data["figures"]
    ]


def _short(name: str) -> str:
    return {"bytes_to_fish": "bytes"}.get(name, name)


def main() -> None:
    chosen = sys.argv[1:] or list(BENCHMARKS)
    unknown = sorted(set(chosen) - set(BENCHMARKS))
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    started = time.monotonic()
    figures = [figure for name in BENCHMARKS if name in chosen for figure in run(name)]
    report(figures, path=RESULTS, started=started)


if __name__ == "__main__":
    main()
