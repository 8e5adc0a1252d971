"""The workers' Celery app, what `celery -A worker` finds: configured for long, at-least-once, JSON-only jobs.

What it shares with the pipelines' app (JSON only, Redis and Sentinel, RedBeat) is worker.celery_base.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from celery import Celery, current_task, signals
from kombu import Queue

from worker.celery_base import base_conf
from worker.contract import (
    ALL_QUEUES,
    ASSEMBLY_QUEUE,
    BEAT_QUEUE,
    BOOK_RECONCILE_TASK,
    CREDIT_CHECK_TASK,
    JOB_SWEEP_TASK,
    PROMOTE_TASK,
    QUEUE,
    SENT_AT_HEADER,
    VOICES_QUEUE,
)
from worker.observability import logs, metrics
from worker.settings import Settings, get_settings
from worker.support.memory import hold_mmap_threshold

# The queue names live in the wire contract (worker.contract.names); they are named here too, beside the app.
__all__ = ["ALL_QUEUES", "ASSEMBLY_QUEUE", "BEAT_QUEUE", "BEAT_TASKS", "QUEUE", "VOICES_QUEUE", "app", "make_app"]

BEAT_TASKS = (BOOK_RECONCILE_TASK, CREDIT_CHECK_TASK, JOB_SWEEP_TASK)


def make_app(settings: Settings | None = None) -> Celery:
    """The worker's app from the environment, or a producer's app for explicit settings."""
    settings = settings or get_settings()
    app = Celery(
        "narrate",
        broker=settings.broker_url,
        include=[
            "worker.jobs.tasks",
            "worker.voices.tasks",
            "worker.policy.credit",
            "worker.books.tasks",
            "worker.webhooks.tasks",
        ],
    )
    app.conf.update(
        **base_conf(settings),
        # a task is acknowledged after it finishes, so a killed worker's job is redelivered
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        # long tasks: a worker takes one at a time instead of hoarding
        worker_prefetch_multiplier=1,
        # both limits below the visibility timeout, else Redis redelivers running tasks
        task_soft_time_limit=settings.task_soft_time_limit,
        task_time_limit=settings.task_time_limit,
        task_default_queue=QUEUE,
        task_queues=tuple(Queue(name, routing_key=name) for name in ALL_QUEUES),
        task_routes={
            PROMOTE_TASK: {"queue": VOICES_QUEUE, "routing_key": VOICES_QUEUE},
            **{task: {"queue": BEAT_QUEUE, "routing_key": BEAT_QUEUE} for task in BEAT_TASKS},
        },
        worker_cancel_long_running_tasks_on_connection_loss=False,
        # task events, so Flower and celery-exporter see every task without extra configuration
        worker_send_task_events=True,
        task_send_sent_event=True,
        # `celery -A worker beat` (or a worker with -B) runs the reconciler, the credit check and the sweeper.
        redbeat_key_prefix="narrate:redbeat:worker",
        beat_schedule={
            "reconcile-audiobooks": _every(settings.reconcile_seconds, BOOK_RECONCILE_TASK),
            "check-fish-credit": _every(settings.credit_check_seconds, CREDIT_CHECK_TASK),
            "sweep-jobs": _every(settings.sweep_seconds, JOB_SWEEP_TASK),
        },
    )
    return app


def _every(seconds: float, task: str) -> dict[str, object]:
    """A beat entry whose message expires when the next is sent: a fleet too busy to take it finds one, not a pile."""
    return {"task": task, "schedule": seconds, "options": {"expires": seconds}}


@signals.setup_logging.connect
def _logging(loglevel: int | str | None = None, **_: object) -> None:
    """Workers and beat log in NARRATE_LOG_FORMAT, Celery's own lines included.

    Connecting here replaces Celery's own logging setup.
    """
    settings = get_settings()
    secrets = [settings.fish_api_key.get_secret_value()] if settings.fish_api_key else []
    logs.configure(fmt=settings.log_format, level=loglevel or logging.INFO, secrets=secrets, current_task=_running_task)


def _running_task() -> tuple[str, str] | None:
    task = current_task._get_current_object()
    if task is None or getattr(task.request, "id", None) is None:
        return None
    return task.request.id, task.name


@signals.celeryd_init.connect
def _no_banner_in_json(instance: object = None, **_: object) -> None:
    """JSON log pipelines get only JSON: no start-up banner (as `celery worker --quiet`), and the warnings Celery
    gives before it sets up logging (running as root) already in the format."""
    if get_settings().log_format == "json" and instance is not None:
        instance.quiet = True  # type: ignore[attr-defined]
        _logging()


@signals.before_task_publish.connect
def _stamp_sent_at(headers: dict | None = None, **_: object) -> None:
    if headers is not None:
        headers[SENT_AT_HEADER] = time.time()  # every publish, retries included: the age is time spent waiting


@signals.worker_ready.connect
def _serve_metrics(**_: object) -> None:
    """After the pool has started, so only the main process holds the port."""
    settings = get_settings()
    if settings.heartbeat_file:
        metrics.HEALTH.file = Path(settings.heartbeat_file)
        metrics.HEALTH.beat()
    if settings.metrics_port:
        metrics.serve(settings.metrics_port, host=settings.metrics_host)


@signals.heartbeat_sent.connect
def _heartbeat(**_: object) -> None:
    metrics.HEALTH.beat()


@signals.worker_process_shutdown.connect
def _pool_process_gone(pid: int | None = None, **_: object) -> None:
    if pid:
        metrics.process_gone(pid)


@signals.worker_init.connect
def _memory(**_: object) -> None:
    """Before the pool forks: every pool process inherits it."""
    hold_mmap_threshold()


@signals.worker_init.connect
def _prefork_only(sender: object = None, **_: object) -> None:
    """Time limits and counting dead workers need pool processes: other pools would lose those guarantees."""
    pool = getattr(sender, "pool_cls", None)
    module = pool if isinstance(pool, str) else getattr(pool, "__module__", "")
    if module and "prefork" not in module:
        # Celery logs and swallows exceptions from signal handlers: only SystemExit stops the worker.
        raise SystemExit(
            f"narrate workers need the prefork pool (the default), not {module.rsplit('.', 1)[-1]}:"
            " time limits and the count of dead workers depend on it; drop --pool/-P"
        )


app = make_app()
