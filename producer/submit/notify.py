"""Webhooks a submission asks for: one per job (`--notify`), one per batch of jobs (`--notify-batch`).

URLs are checked here, before anything is uploaded or sent (worker.webhooks.submitted):
a receiver the workers would refuse is a BadInput now. A batch is opened in Redis
with its URL, grows before its jobs are sent and is sealed once all are; its last
job to end, or the seal if they all ended first, sends its notice.
"""

from __future__ import annotations

import uuid

from celery import Celery

from worker.contract import ASSEMBLY_QUEUE, BATCH_NOTIFY_TASK, Notify
from worker.infra.redisconn import connect_with
from worker.settings import Settings
from worker.webhooks.batches import Batches
from worker.webhooks.submitted import check_notify_url


class NotifyBatch:
    """One `batch.finished` notice for every job submitted with it, across any number of `Submitter.submit` calls."""

    def __init__(self, url: str, *, settings: Settings, app: Celery) -> None:
        check_notify_url(url, settings=settings, option="--notify-batch")
        self.batch_id = uuid.uuid4().hex
        self._app = app
        self._batches = Batches(connect_with(settings), ttl_seconds=settings.record_ttl_seconds)
        self._batches.open(self.batch_id, url=url)
        self.sealed = False

    def add(self, count: int) -> None:
        """Before `count` more jobs are sent."""
        if self.sealed:
            raise RuntimeError(f"batch {self.batch_id} is sealed: open another for more jobs")
        self._batches.add(self.batch_id, count)

    def seal(self) -> None:
        """Every job is sent: from now on the last one to end sends the notice (or this call, if all have ended)."""
        if self.sealed:
            return
        self.sealed = True
        if self._batches.seal(self.batch_id):
            self._app.send_task(BATCH_NOTIFY_TASK, args=[self.batch_id], queue=ASSEMBLY_QUEUE)


def job_notify(url: str | None, batch: NotifyBatch | None) -> Notify | None:
    """What each job's message carries (`url` checked already); None when nothing is to be notified."""
    if url is None and batch is None:
        return None
    return Notify(url=url, batch_id=batch.batch_id if batch else None)
