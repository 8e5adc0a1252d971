"""When each pipeline runs next, kept in Redis and claimed atomically: two beats, or two ticks, never run it twice.

`every: 60s` runs every 60 s; `cron: "0 6 * * *"` at the minutes the five fields
allow, in the pipeline's time zone. A tick claims a due pipeline by moving its
next run forward in one Lua step; only the tick that moved it runs the pipeline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import redis

from producer.pipelines.config import Pipeline
from worker import keys

# KEYS: next-run key. ARGV: now, the next run after this one. 1 when this caller claimed the run.
_CLAIM = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""
_RANGES = ((0, 59), (0, 23), (1, 31), (1, 12), (0, 6))  # minute hour day month weekday (0 = Sunday)


def next_run(pipeline: Pipeline, *, after: float) -> float:
    """The first run strictly after `after` (epoch seconds)."""
    if pipeline.every_seconds is not None:
        return after + pipeline.every_seconds
    assert pipeline.cron is not None
    return next_cron(pipeline.cron, after=after, zone=pipeline.timezone)


def next_cron(expression: str, *, after: float, zone: str) -> float:
    allowed = [_field(text, low, high) for text, (low, high) in zip(expression.split(), _RANGES)]
    minute, hour, day, month, weekday = allowed
    moment = datetime.fromtimestamp(after, ZoneInfo(zone)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if moment.month in month and moment.day in day and (moment.isoweekday() % 7) in weekday:
            if moment.hour in hour and moment.minute in minute:
                return moment.timestamp()
            moment += timedelta(minutes=1)
        else:
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
    raise ValueError(f"cron {expression!r} never matches")


def _field(text: str, low: int, high: int) -> set[int]:
    found: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        start, end = (low, high) if span == "*" else (int(span.split("-")[0]), int(span.split("-")[-1]))
        found.update(range(start, end + 1, int(step or 1)))
    return found


class Schedule:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)

    def claim(self, pipeline: Pipeline, *, now: float) -> bool:
        """True for exactly one caller per due run; the next run is then scheduled."""
        return bool(self._claim(keys=[keys.pipeline_state(pipeline.name, "next_run")], args=[now, next_run(pipeline, after=now)]))

    def next_at(self, pipeline: Pipeline) -> float | None:
        raw = self._redis.get(keys.pipeline_state(pipeline.name, "next_run"))
        return float(raw) if raw else None
