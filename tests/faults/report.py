"""Print the fault suite's results as a table: `python -m tests.faults.report` after `make faults`."""

from __future__ import annotations

import json
import sys
from pathlib import Path

COLUMNS = ("scenario", "jobs", "succeeded", "failed", "duplicates", "lost", "retries", "extra_fish_calls")


def render(rows: list[dict]) -> str:
    widths = {c: max(len(c), *(len(str(r[c])) for r in rows)) for c in COLUMNS}
    line = "  ".join(c.ljust(widths[c]) for c in COLUMNS)
    body = ["  ".join(str(r[c]).ljust(widths[c]) for c in COLUMNS) for r in rows]
    return "\n".join(["fault suite", line, "-" * len(line), *body])


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("fault-report.json")
    if not path.exists():
        print(f"{path}: no results yet; run `make faults` first", file=sys.stderr)
        return 2
    print(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
