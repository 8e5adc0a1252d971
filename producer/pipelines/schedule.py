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
from producer.pipelines.cron import cron_fields
from worker import keys

# KEYS: next-run key. ARGV: now, the next run after this one. 1 when this caller claimed the run.
_CLAIM = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if current > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
return 1
"""


def next_run(pipeline: Pipeline, *, after: float) -> float:
    """The first run strictly after `after` (epoch seconds)."""
    if pipeline.every_seconds is not None:
        return after + pipeline.every_seconds
    assert pipeline.cron is not None
    return next_cron(pipeline.cron, after=after, zone=pipeline.timezone)


def next_cron(expression: str, *, after: float, zone: str) -> float:
    fields = expression.split()
    minute, hour, day, month, weekday = cron_fields(expression)
    # cron's rule: when both day of month and day of week are restricted, a day matching either runs
    either = not fields[2].startswith("*") and not fields[4].startswith("*")

    def day_allowed(moment: datetime) -> bool:
        by_date, by_weekday = moment.day in day, (moment.isoweekday() % 7) in weekday
        return (by_date or by_weekday) if either else (by_date and by_weekday)

    moment = datetime.fromtimestamp(after, ZoneInfo(zone)).replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(366 * 24 * 60):
        if moment.month in month and day_allowed(moment):
            if moment.hour in hour and moment.minute in minute:
                return moment.timestamp()
            moment += timedelta(minutes=1)
        else:
            moment = (moment + timedelta(days=1)).replace(hour=0, minute=0)
    raise ValueError(f"cron {expression!r} never matches")


class Schedule:
    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._claim = client.register_script(_CLAIM)

    def claim(self, pipeline: Pipeline, *, now: float) -> bool:
        """True for exactly one caller per due run; the next run is then scheduled."""
        return bool(
            self._claim(
                keys=[keys.pipeline_state(pipeline.name, "next_run")], args=[now, next_run(pipeline, after=now)]
            )
        )

    def next_at(self, pipeline: Pipeline) -> float | None:
        raw = self._redis.get(keys.pipeline_state(pipeline.name, "next_run"))
        return float(raw) if raw else None
