"""`narrate resume`, `narrate retry`, `narrate purge`: operating a batch that hit trouble."""

from __future__ import annotations

import time
from typing import Annotated, Any, Optional

import redis
import typer

from producer.cli.console import console, errors, fail
from worker.app import make_app
from worker.contract import RENDER_TASK, RenderJob
from worker.fish.breaker import CreditBreaker
from worker.jobs.records import JobStore


def breaker_notice(url: str) -> str | None:
    status = CreditBreaker(redis.Redis.from_url(url)).status()
    if status is None:
        return None
    return f"Fish calls are paused since a 402: {status.get('reason', '')}; jobs are waiting, not failing. Top up, then `narrate resume`."


def register(app: typer.Typer, *, settings_or_exit: Any) -> None:
    @app.command()
    def resume() -> None:
        """Close the 402 credit breaker: waiting jobs go on with their next attempt."""
        settings = settings_or_exit()
        was_open = CreditBreaker(redis.Redis.from_url(settings.broker_url)).close()
        console.print("resumed: Fish calls allowed again" if was_open else "nothing to resume: Fish calls were not paused", markup=False)

    @app.command()
    def retry(
        job_ids: Annotated[Optional[list[str]], typer.Argument(help="Failed job ids to run again.")] = None,
        failed: Annotated[bool, typer.Option("--failed", help="Every job in the failed registry.")] = False,
    ) -> None:
        """Re-enqueue failed jobs with a clean slate (the same job id, output and voice)."""
        settings = settings_or_exit()
        store = JobStore.from_url(settings.broker_url)
        if bool(job_ids) == failed:
            fail("name the jobs to retry, or pass --failed for all failed jobs")
        ids = store.in_state("failed") if failed else list(job_ids or [])
        app_ = make_app(settings)
        retried = 0
        for job_id in ids:
            record = store.get(job_id)
            message = store.message(job_id)
            if record is None:
                errors.print(f"{job_id}: no such job", markup=False)
                continue
            if record.state != "failed":
                errors.print(f"{job_id}: is {record.state}, not failed; left alone", markup=False)
                continue
            if message is None:
                errors.print(f"{job_id}: its message was not kept (enqueued by another client); submit it again", markup=False)
                continue
            job = RenderJob.model_validate_json(message)
            store.requeue(job_id)
            app_.send_task(RENDER_TASK, kwargs={"job": job.model_dump(mode="json")}, task_id=job_id)
            retried += 1
        console.print(f"re-enqueued {retried} job(s)", markup=False)
        if retried < len(ids):
            raise typer.Exit(1)

    @app.command()
    def purge(
        failed: Annotated[bool, typer.Option("--failed", help="Purge from the failed registry (required).")] = False,
        older_than: Annotated[float, typer.Option("--older-than", help="Only jobs that failed more than D days ago.")] = 7.0,
    ) -> None:
        """Delete failed job records older than D days."""
        if not failed:
            fail("only failed jobs can be purged: pass --failed")
        settings = settings_or_exit()
        store = JobStore.from_url(settings.broker_url)
        ids = store.in_state("failed", before=time.time() - older_than * 86400)
        store.purge(ids)
        console.print(f"purged {len(ids)} failed job record(s) older than {older_than:g} days", markup=False)
