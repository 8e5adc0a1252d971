"""What `narrate pipelines status` shows.

The last run, files in flight or held, totals, today's spend, filing problems.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import redis

from worker import keys

_TOTALS = ("submitted", "processed", "refused", "duplicates")


def record_run(client: redis.Redis, name: str, outcome: dict[str, list[str]], *, error: str | None = None) -> None:
    pipe = client.pipeline()
    last = {"at": time.time(), **{k: len(v) for k, v in outcome.items()}, **({"error": error} if error else {})}
    pipe.set(keys.pipeline_state(name, "last_run"), json.dumps(last))
    for total in _TOTALS:
        if outcome.get(total):
            pipe.hincrby(keys.pipeline_state(name, "totals"), total, len(outcome[total]))
    pipe.execute()


def _reason(raw: bytes) -> str:
    try:
        found = json.loads(raw)
    except ValueError:
        return raw.decode()
    return str(found.get("reason", "")) if isinstance(found, dict) else str(found)


def pipeline_status(client: redis.Redis, name: str) -> dict[str, Any]:
    last = client.get(keys.pipeline_state(name, "last_run"))
    totals = {k.decode(): int(v) for k, v in client.hgetall(keys.pipeline_state(name, "totals")).items()}
    held = {k.decode(): _reason(v) for k, v in client.hgetall(keys.pipeline_state(name, "held")).items()}
    spent = client.get(keys.pipeline_state(name, f"spend:{datetime.now(UTC):%Y-%m-%d}"))
    next_run = client.get(keys.pipeline_state(name, "next_run"))
    return {
        "name": name,
        "last_run": json.loads(last) if last else None,
        "next_run": float(next_run) if next_run else None,
        "in_flight": int(client.hlen(keys.pipeline_state(name, "inflight"))),
        "held": held,
        "totals": {t: totals.get(t, 0) for t in _TOTALS},
        "spent_today_usd": round(float(spent or 0), 4),
        "problems": [json.loads(p) for p in client.lrange(keys.pipeline_state(name, "problems"), 0, 9)],
    }
