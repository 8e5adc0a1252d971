"""What a submitter reads about a webhook: delivered, refused by policy, or failed after N attempts (why, in a word).

Nothing the receiver said, and nothing about how a connection failed, gets here:
`narrate status` must not tell a closed port from an open one. The unit classes
of books, jobs and batches mix this in and say where the status is written.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

from worker.policy.failures import Unit
from worker.settings import get_settings
from worker.webhooks.send import Sender

DELIVERED = "delivered"
REFUSED = "refused by policy"


def public_status(exc: BaseException) -> str:
    """The one word a submitter may read about an error (the webhook errors carry it as `status`)."""
    status = getattr(exc, "status", None)
    return status if isinstance(status, str) else "error"


class WebhookOutcome(Unit):
    """The failure policy's notes on a webhook unit, each reduced to its public status."""

    last_status: str | None = None  # of this delivery's error, set by the task before the policy sees it
    failures = 0  # counted in Redis so far, as this delivery last saw it
    _final: str | None = None

    @abstractmethod
    def note_status(self, status: str) -> None:
        """Best effort: write `status` where `narrate status` reads it."""

    def count_failure(self) -> int:
        self.failures = super().count_failure()
        return self.failures

    def waiting(self, note: str, *, exc: BaseException) -> None:
        self.note_status("waiting to be sent")

    def retrying(self, note: str, *, attempt: int) -> None:
        self.note_status(f"retrying: attempt {attempt} failed ({self.last_status or 'error'})")

    def resent(self, note: str) -> None:
        self.note_status("retrying: its worker stopped")

    def permanent(self, exc: BaseException) -> str:
        status = public_status(exc)
        self._final = status if status == REFUSED else f"failed: {status}"
        return self._final

    def fail(self, reason: str) -> None:
        if self._final is None and self.last_status and self.failures:
            self._final = (
                f"failed after {self.failures} attempt{'s' if self.failures != 1 else ''} ({self.last_status})"
            )
        self.note_status(self._final or f"failed: {reason}")  # ours alone (time limits, deaths): no receiver's words


def deliver(unit: WebhookOutcome, url: str, payload: dict[str, Any]) -> None:
    """Send once under the settings of now; the error's public status goes on the unit before the policy sees it."""
    try:
        Sender.from_settings(get_settings()).send(url, payload)
    except Exception as exc:
        unit.last_status = getattr(exc, "status", None) or "internal error"
        raise
    unit.note_status(DELIVERED)
