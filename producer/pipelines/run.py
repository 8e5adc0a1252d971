"""One run of a pipeline, no Celery: what a scheduled tick starts and `narrate pipelines run` does at once."""

from __future__ import annotations

import logging

from producer.pipelines.config import Pipeline
from producer.pipelines.inbox import InboxContext, scan, settle
from producer.pipelines.recurring import render_recurring
from producer.pipelines.status import record_run

log = logging.getLogger("narrate.pipelines")


def run_once(pipeline: Pipeline, *, ctx: InboxContext) -> dict:
    """One run, in this process: settle what finished, then scan (inbox); or render the object (recurring)."""
    if pipeline.kind == "inbox":
        settled = settle(pipeline, ctx=ctx)
        found = scan(pipeline, ctx=ctx)
        outcome = {"submitted": found.submitted, "duplicates": found.duplicates, "refused": found.refused + settled.failed,
                   "processed": settled.processed, "held": found.held}  # fmt: skip
    else:
        outcome = {"submitted": [render_recurring(pipeline, ctx=ctx)]}
    record_run(ctx.client, pipeline.name, outcome)
    log.info("pipeline %s: %s", pipeline.name, {k: len(v) for k, v in outcome.items()})
    return outcome
