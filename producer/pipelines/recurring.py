"""A recurring pipeline's run: the same object rendered again, under an output path that names the run."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.items import submit_object
from producer.submit.fetch import fetch_within
from producer.submit.jobs import parse_out
from worker.errors import BadInput


def render_recurring(pipeline: Pipeline, *, ctx: InboxContext, now: datetime | None = None) -> str:
    """Submit this run's render; returns the output prefix. Every run renders (and pays for) the object again."""
    bucket, key = parse_out(pipeline.recurring or "")
    data = fetch_within(ctx.storage, bucket, key, limit=ctx.settings.fetch_max_bytes)
    if data is None:
        raise BadInput(f"pipeline {pipeline.name}: {pipeline.recurring} does not exist; upload it or fix `recurring`")
    moment = now or datetime.now(ZoneInfo(pipeline.timezone))
    out = pipeline.out.format(date=moment.strftime("%Y-%m-%d"), time=moment.strftime("%H%M%S"), name=pipeline.name)
    submit_object(pipeline, key, data, out=out, ctx=ctx)
    return out
