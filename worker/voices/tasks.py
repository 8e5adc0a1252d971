"""The promotion task: one step at a time, the next scheduled with a countdown instead of sleeping."""

from __future__ import annotations

from celery import Task

from worker.app import VOICES_QUEUE, app
from worker.backoff import retry_delay
from worker.contract import PROMOTE_TASK
from worker.errors import TransientError
from worker.runtime import promotion_context
from worker.settings import get_settings
from worker.voices.promotion import advance


class PromoteTask(Task):
    """One step of a promotion; schedules the next with a countdown instead of sleeping.

    Takes (reference_hash, claim_token). A message without the token (queued before
    chains carried one, or sent by a tool that does not know it) adopts the token
    of the promotion under way, and the chain goes on carrying it.
    """

    name = PROMOTE_TASK
    acks_late = True
    reject_on_worker_lost = True

    def run(self, reference_hash: str, token: str | None = None) -> None:
        settings = get_settings()
        ctx = promotion_context()
        token = token or ctx.registry.adopt_claim(reference_hash)
        if token is None:
            return  # nothing under way: finished, demoted or never claimed
        try:
            next_step = advance(reference_hash, token, ctx=ctx)
        except TransientError as exc:
            attempt = self.request.retries + 1
            if attempt >= settings.max_attempts:
                reason = f"Fish unavailable: {exc}"
                ctx.registry.mark_failed(reference_hash, reason=reason, retry_in=settings.promote_retry_seconds, token=token)
                return
            delay = retry_delay(attempt, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
            raise self.retry(args=(reference_hash, token), countdown=delay, max_retries=settings.max_attempts)
        if next_step is not None:
            self.apply_async((reference_hash, token), countdown=next_step, queue=VOICES_QUEUE)


promote = app.register_task(PromoteTask())
