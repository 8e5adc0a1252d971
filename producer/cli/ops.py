"""`narrate resume`, `narrate retry`, `narrate purge`: operating a batch that hit trouble."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer

from producer.cli.console import console, errors, fail, settings_or_exit
from worker.app import make_app
from worker.books.state import BookState
from worker.contract import ALL_QUEUES, RENDER_TASK, RenderJob
from worker.fish.breaker import CreditBreaker
from worker.infra.parking import Parking, sender
from worker.infra.redisconn import connect_with
from worker.jobs.records import JobStore
from worker.jobs.sweep import LOST_NOTE, stuck_jobs
from worker.settings import Settings


def breaker_notice(settings: Settings) -> str | None:
    status = CreditBreaker(connect_with(settings)).status()
    if status is None:
        return None
    return (
        f"Fish calls are paused since a 402: {status.get('reason', '')}; jobs are waiting, not failing."
        " Top up, then `narrate resume`."
    )


def register(app: typer.Typer) -> None:
    """Add `narrate resume`, `narrate retry` and `narrate purge` to the `narrate` app."""
    app.command()(resume)
    app.command()(retry)
    app.command()(purge)


def resume() -> None:
    """Close the 402 credit breaker: waiting jobs go on with their next attempt."""
    settings = settings_or_exit()
    client = connect_with(settings)
    was_open = CreditBreaker(client).close()
    released = Parking(client).release(sender(make_app(settings)))
    console.print(
        "resumed: Fish calls allowed again" if was_open else "nothing to resume: Fish calls were not paused",
        markup=False,
    )
    if released:
        console.print(f"sent {released} parked task(s) again", markup=False)


def retry(
    job_ids: Annotated[
        list[str] | None, typer.Argument(help="Failed or stuck job ids, or book ids, to run again.")
    ] = None,
    failed: Annotated[bool, typer.Option("--failed", help="Every job in the failed registry.")] = False,
    stuck: Annotated[
        bool,
        typer.Option(
            "--stuck", help="Every job queued or running whose message is in no queue, no worker and no schedule."
        ),
    ] = False,
) -> None:
    """Run failed jobs again with a clean slate, and re-send stuck ones (same job id, output and voice).

    A book id starts that book again from what is stored: chunks and chapters already made are kept, its
    attempts count from zero, and only what is missing is sent."""
    settings = settings_or_exit()
    store = JobStore.from_url(settings.broker_url, master_name=settings.redis_master_name)
    if sum((bool(job_ids), failed, stuck)) != 1:
        fail("name the jobs to retry, or pass --failed (all failed jobs) or --stuck (all stuck jobs)")
    client = connect_with(settings)
    book_state = BookState(client)
    books = [i for i in job_ids or [] if store.get(i) is None and book_state.exists(i)]
    if books:
        from producer.cli.book_retry import retry_books  # imported when used: every command starts sooner

        retried_books = retry_books(books, settings=settings)
        job_ids = [i for i in job_ids or [] if i not in books]
        if not job_ids:
            raise typer.Exit(0 if retried_books == len(books) else 1)
    queues = ALL_QUEUES
    if stuck:
        ids = stuck_jobs(store, client, queues=queues, older_than=settings.sweep_stale_seconds)
    else:
        ids = store.in_state("failed") if failed else list(job_ids or [])
    app_ = make_app(settings)

    def send(job_id: str, job: dict) -> None:
        app_.send_task(RENDER_TASK, kwargs={"job": job}, task_id=job_id)

    lost = set(ids) if stuck else set(stuck_jobs(store, client, queues=queues, older_than=0, job_ids=ids))
    retried = _send_again(store, ids, lost=lost, send=send)
    console.print(f"re-enqueued {retried} job(s)", markup=False)
    if retried < len(ids):
        raise typer.Exit(1)


def _send_again(store: JobStore, ids: list[str], *, lost: set[str], send: Callable[[str, dict], None]) -> int:
    """Each failed job requeued, each lost one re-sent, from the message kept for it; how many were sent."""
    retried = 0
    for job_id in ids:
        record = store.get(job_id)
        message = store.message(job_id)
        if record is None:
            errors.print(f"{job_id}: no such job", markup=False)
        elif record.state not in ("failed", *(("queued", "running") if job_id in lost else ())):
            held = "its message is waiting or with a worker" if not record.finished else "it has finished"
            errors.print(f"{job_id}: is {record.state} and not stuck ({held}); left alone", markup=False)
        elif message is None:
            errors.print(
                f"{job_id}: its message was not kept (enqueued by another client); submit it again", markup=False
            )
        else:
            job = RenderJob.model_validate_json(message)
            if record.state == "failed":
                store.requeue(job_id)
            else:
                store.mark_resent(job_id, note=LOST_NOTE)
            send(job_id, job.model_dump(mode="json"))
            retried += 1
    return retried


def purge(
    failed: Annotated[bool, typer.Option("--failed", help="Purge from the failed registry (required).")] = False,
    older_than: Annotated[
        float, typer.Option("--older-than", help="Only jobs that failed more than D days ago.")
    ] = 7.0,
) -> None:
    """Delete failed job records older than D days."""
    if not failed:
        fail("only failed jobs can be purged: pass --failed")
    settings = settings_or_exit()
    store = JobStore.from_url(settings.broker_url, master_name=settings.redis_master_name)
    ids = store.in_state("failed", before=time.time() - older_than * 86400)
    store.purge(ids)
    console.print(f"purged {len(ids)} failed job record(s) older than {older_than:g} days", markup=False)
