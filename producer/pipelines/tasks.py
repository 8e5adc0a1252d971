"""The pipelines service: its own Celery app, beat and queue, a producer that happens to run on a schedule.

    celery -A producer.pipelines.tasks beat      # any number: RedBeat lets one schedule at a time
    celery -A producer.pipelines.tasks worker    # runs the scans (queue narrate.pipelines)

Beat sends one tick every NARRATE_PIPELINES_TICK_SECONDS; the tick reads the
pipelines file (so an edit takes effect at the next tick, no restart) and starts
each pipeline whose run is due, claimed in Redis. A run holds its pipeline's
own short lock, so two runs never scan the same inbox at once.
"""

from __future__ import annotations

import logging
import time
from functools import lru_cache
from pathlib import Path

import redis
from celery import Celery, Task

from producer.pipelines.config import Pipeline, read_pipelines_each
from producer.pipelines.context import InboxContext
from producer.pipelines.run import run_once
from producer.pipelines.runlock import RunLock
from producer.pipelines.schedule import Schedule
from producer.pipelines.status import record_run
from worker import keys
from worker.celery_base import base_conf
from worker.contract import PIPELINES_QUEUE, PIPELINES_RUN_TASK, PIPELINES_TICK_TASK
from worker.infra.redisconn import connect_with
from worker.policy.failures import Attempts, Unit
from worker.policy.task import PolicyTask
from worker.settings import Settings, get_settings

log = logging.getLogger("narrate.pipelines")
TICK_SECONDS = 1.0
RUN_SECONDS = 240.0  # a run takes no new file after this; the next run goes on


def make_app(settings: Settings | None = None) -> Celery:
    """The pipelines' app from the environment, or for explicit settings."""
    settings = settings or get_settings()
    app = Celery("narrate-pipelines", broker=settings.broker_url)
    app.conf.update(
        **base_conf(settings),
        task_default_queue=PIPELINES_QUEUE,
        # A tick nobody took within a few seconds is dropped: a pipelines worker that was down wakes up to one,
        # not thousands.
        beat_schedule={
            "pipelines-tick": {
                "task": PIPELINES_TICK_TASK,
                "schedule": TICK_SECONDS,
                "options": {"expires": 10 * TICK_SECONDS},
            }
        },
        redbeat_key_prefix=f"{keys.REDIS_PREFIX}:redbeat:pipelines",
    )
    return app


app = make_app()


@lru_cache(maxsize=4)
def _read(path: str, mtime: float) -> list[Pipeline]:
    """The file's valid pipelines; each one refused is logged once per edit, with its line, and the others run."""
    found, refused = read_pipelines_each(Path(path))
    for error in refused:
        log.error("%s; this pipeline does not run until the file is fixed, the others do", error)
    return found


def pipelines() -> list[Pipeline]:
    path = get_settings().pipelines_file
    if not path:
        return []
    return _read(path, Path(path).stat().st_mtime)


class TickTask(Task):
    name = PIPELINES_TICK_TASK

    def run(self) -> list[str]:
        started = due(connect_with(get_settings()), now=time.time())
        for name in started:
            run_pipeline.apply_async((name,), queue=PIPELINES_QUEUE)
        return started


def due(client: redis.Redis, *, now: float) -> list[str]:
    """The pipelines whose run this tick claimed."""
    schedule = Schedule(client)
    return [p.name for p in pipelines() if _claimed(schedule, p, now=now)]


def _claimed(schedule: Schedule, pipeline: Pipeline, *, now: float) -> bool:
    """Whether this tick starts the pipeline; one pipeline's schedule failing never keeps the others from theirs."""
    try:
        return schedule.claim(pipeline, now=now)
    except Exception:  # noqa: BLE001
        log.exception("pipeline %s: its next run could not be scheduled; the other pipelines go on", pipeline.name)
        return False


class RunUnit(Unit):
    """One pipeline's run, for the failure policy.

    A transient failure is tried again with back-off, a bounded number of times; past that the run ends
    (the reason in `narrate pipelines status`) and the next tick starts afresh.
    """

    def __init__(self, client: redis.Redis, name: str, *, settings: Settings) -> None:
        super().__init__(max_attempts=settings.max_attempts)
        self.client, self.pipeline = client, name
        self.label = f"pipeline {name}'s run"
        self.name = self.label
        self.fields = {"pipeline": name}

    def attempts(self) -> Attempts:
        unit = f"pipeline:{self.pipeline}"
        return Attempts(self.client, keys.unit_attempts(unit), field=unit, ttl_seconds=86400)

    def succeeded(self) -> None:
        self.attempts().clear()

    def fail(self, reason: str) -> None:
        record_run(self.client, self.pipeline, {}, error=reason)
        self.attempts().clear()  # the next scheduled run starts with all its attempts


class RunTask(PolicyTask):
    """One pipeline's run. Thin on purpose: what goes wrong with single files is settled inside the run.

    A scan that cannot go on (S3 or Redis failing) raises; the policy tries the
    run again later. The lock keeps a second run of the same pipeline out meanwhile.
    """

    name = PIPELINES_RUN_TASK
    soft_time_limit = RUN_SECONDS + 60  # a backstop: the scan itself stops taking files after RUN_SECONDS
    time_limit = RUN_SECONDS + 90

    def unit_of(self, args: tuple, kwargs: dict) -> RunUnit | None:
        settings = get_settings()
        return RunUnit(connect_with(settings), args[0] if args else kwargs["name"], settings=settings)

    def perform(self, unit: RunUnit) -> dict:
        settings = get_settings()
        pipeline = next((p for p in pipelines() if p.name == unit.pipeline), None)
        if pipeline is None:
            return {"skipped": "no such pipeline any more"}
        with RunLock(unit.client).held(unit.pipeline) as mine:
            if not mine:
                return {"skipped": "another run of this pipeline is under way"}
            return run_once(pipeline, ctx=InboxContext.from_settings(settings), seconds=RUN_SECONDS)


tick = app.register_task(TickTask())
run_pipeline = app.register_task(RunTask())
