"""Jobs added one at a time from a loop and sent in bulk: what `Submitter.batch` returns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from producer.readers.text import TextSource
from producer.submit.job_target import JobTarget
from worker.contract import RenderJob
from worker.errors import BadInput

if TYPE_CHECKING:
    from producer.submit.jobs import Submitter


class SubmitBatch:
    """Jobs added one by one, recorded and enqueued in bulk; what is added is sent, also when the loop raises."""

    def __init__(self, submitter: Submitter, target: JobTarget, *, size: int) -> None:
        if size < 1:
            raise ValueError("a batch size is at least 1")
        self._submitter = submitter
        self._target = target
        self._size = size
        self._pending: list[RenderJob] = []
        self.sent: list[RenderJob] = []

    def add(self, text: str, *, title: str = "") -> RenderJob:
        """Check the text (BadInput if the worker would refuse it) and queue it to be sent."""
        source = TextSource(name=title or f"job {len(self.sent) + len(self._pending) + 1}", text=text)
        if not text.strip():
            raise BadInput(f"{source.name}: the text is empty: there is nothing to narrate")
        self._submitter.check_text(source)
        job = self._target.job(source)
        self._pending.append(job)
        if len(self._pending) >= self._size:
            self.flush()
        return job

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            if self._target.batch:
                self._target.batch.add(len(pending))
            self._submitter.enqueue(pending)
            self.sent.extend(pending)

    def __enter__(self) -> SubmitBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()
        if self._target.batch:
            self._target.batch.seal()
