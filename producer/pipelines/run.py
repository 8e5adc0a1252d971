"""One run of a pipeline, no Celery: what a scheduled tick starts and `narrate pipelines run` does at once."""

from __future__ import annotations

import logging
import time

from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.inbox import scan, settle
from producer.pipelines.recurring import render_recurring
from producer.pipelines.status import record_run

log = logging.getLogger("narrate.pipelines")


def run_once(pipeline: Pipeline, *, ctx: InboxContext, seconds: float | None = None) -> dict:
    """One run, in this process: settle what finished, then scan (inbox); or render the object (recurring).

    `seconds`: the scan takes no new file after that long (the rest waits for the next run).
    A transient error from the scan is recorded as the run's, then raised: the run is tried again later.
    """
    deadline = None if seconds is None else time.monotonic() + seconds
    if pipeline.kind != "inbox":
        outcome = {"submitted": [render_recurring(pipeline, ctx=ctx)]}
        record_run(ctx.client, pipeline.name, outcome)
        return outcome
    settled = settle(pipeline, ctx=ctx)
    outcome = {"processed": settled.processed, "refused": settled.failed, "waiting": settled.waiting}
    try:
        found = scan(pipeline, ctx=ctx, deadline=deadline)
    except Exception as exc:
        record_run(ctx.client, pipeline.name, outcome, error=f"the scan stopped: {exc}")
        raise
    outcome = {
        "submitted": found.submitted,
        "duplicates": found.duplicates,
        "refused": found.refused + settled.failed,
        "processed": settled.processed,
        "held": found.held,
        "waiting": settled.waiting,
    }
    record_run(ctx.client, pipeline.name, outcome, error=f"stopped at {found.stopped}" if found.stopped else None)
    log.info("pipeline %s: %s", pipeline.name, {k: len(v) for k, v in outcome.items()})
    return outcome
