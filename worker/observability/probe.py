"""Container probes that suit long tasks: `python -m worker.observability.probe live|ready`, exit 0 when healthy.

live:  the worker's heartbeat is fresh: NARRATE_HEARTBEAT_FILE was touched in
       the last minute, else /healthz on NARRATE_METRICS_PORT answers 200. Both
       come from the main process's event loop, so a busy pool still passes and
       a stuck loop does not. (`celery inspect ping` costs seconds of CPU and
       cannot answer from a busy solo pool.)
ready: a round trip to the broker (through Sentinel when the URL says so).
"""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from worker.infra.redisconn import connect_with
from worker.observability.metrics import HEARTBEAT_STALE_SECONDS
from worker.settings import get_settings


def live() -> str:
    settings = get_settings()
    if settings.heartbeat_file:
        age = time.time() - Path(settings.heartbeat_file).stat().st_mtime
        if age > HEARTBEAT_STALE_SECONDS:
            raise RuntimeError(f"no heartbeat for {age:.0f} s")
        return f"heartbeat {age:.0f} s ago"
    if settings.metrics_port:
        # Where the worker listens: its own address when NARRATE_METRICS_HOST names one, loopback for a wildcard.
        host = "127.0.0.1" if settings.metrics_host in ("0.0.0.0", "::") else settings.metrics_host
        host = f"[{host}]" if ":" in host else host
        with urllib.request.urlopen(f"http://{host}:{settings.metrics_port}/healthz", timeout=5) as answer:
            return f"/healthz {answer.status}"
    raise RuntimeError("nothing to check: set NARRATE_HEARTBEAT_FILE or NARRATE_METRICS_PORT")


def ready() -> str:
    started = time.perf_counter()
    client = connect_with(get_settings())
    client.ping()
    return f"broker answered in {(time.perf_counter() - started) * 1000:.0f} ms"


def main(argv: list[str]) -> int:
    checks = {"live": live, "ready": ready}
    if len(argv) != 1 or argv[0] not in checks:
        print("usage: python -m worker.observability.probe live|ready", file=sys.stderr)
        return 2
    try:
        print(checks[argv[0]]())
        return 0
    except Exception as exc:  # any failure is an unhealthy answer, said in one line
        print(f"{argv[0]}: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
