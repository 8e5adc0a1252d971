"""The promotion task: one step at a time, the next scheduled with a countdown instead of sleeping."""

from __future__ import annotations

from typing import Any

from worker import keys
from worker.app import app
from worker.contract import PROMOTE_TASK, VOICES_QUEUE
from worker.policy.failures import Attempts, Unit
from worker.policy.task import PolicyTask
from worker.runtime import redis_client
from worker.voices.promotion import PromotionContext, advance
from worker.voices.runtime import promotion_context


class PromotionUnit(Unit):
    """A reference's promotion: its steps share one count, cleared by each step that succeeds."""

    def __init__(self, ctx: PromotionContext, reference_hash: str, token: str) -> None:
        super().__init__(max_attempts=ctx.settings.max_attempts)
        self.ctx, self.reference_hash, self.token = ctx, reference_hash, token
        self.label = "the promotion"
        self.name = f"promotion of reference {reference_hash[:12]}"
        self.fields = {"reference_hash": reference_hash}

    def attempts(self) -> Attempts:
        unit = f"promote:{self.reference_hash}"
        return Attempts(redis_client(), keys.unit_attempts(unit), field=unit, ttl_seconds=7 * 86400)

    def succeeded(self) -> None:
        self.attempts().clear()

    def fail(self, reason: str) -> None:
        # The reference goes on one-shot; the registry tries again after NARRATE_PROMOTE_RETRY_SECONDS.
        self.ctx.registry.mark_failed(
            self.reference_hash,
            reason=f"Fish unavailable: {reason}",
            retry_in=self.ctx.settings.promote_retry_seconds,
            token=self.token,
        )
        self.attempts().clear()


class PromoteTask(PolicyTask):
    """One step of a promotion; schedules the next with a countdown instead of sleeping.

    Takes (reference_hash, claim_token). A message without the token (queued before
    chains carried one, or sent by a tool that does not know it) adopts the token
    of the promotion under way, and the chain goes on carrying it.
    """

    name = PROMOTE_TASK

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> PromotionUnit | None:
        reference_hash = args[0] if args else kwargs["reference_hash"]
        token = (args[1] if len(args) > 1 else kwargs.get("token")) or promotion_context().registry.adopt_claim(
            reference_hash
        )
        if token is None:
            return None  # nothing under way: finished, demoted or never claimed
        return PromotionUnit(promotion_context(), reference_hash, token)

    def perform(self, unit: PromotionUnit) -> None:
        next_step = advance(unit.reference_hash, unit.token, ctx=unit.ctx)
        if next_step is not None:
            self.apply_async((unit.reference_hash, unit.token), countdown=next_step, queue=VOICES_QUEUE)


promote = app.register_task(PromoteTask())
