"""The credit check beat runs while the 402 breaker is open; closing it sends the parked work again."""

from __future__ import annotations

import logging

import redis
from celery import Task

from worker.app import app
from worker.contract import CREDIT_CHECK_TASK
from worker.errors import NarrateError
from worker.fish.breaker import CreditBreaker, enough_to_resume
from worker.fish.client import FishClient
from worker.infra.parking import Parking, sender
from worker.infra.redisconn import connect_with
from worker.settings import Settings, get_settings

log = logging.getLogger("narrate.worker")


class CreditCheckTask(Task):
    """While the 402 breaker is open, ask Fish for the account's credit; resume once it covers a meaningful amount."""

    name = CREDIT_CHECK_TASK

    def run(self) -> str:
        settings = get_settings()
        redis_client = connect_with(settings)
        try:
            breaker = CreditBreaker(redis_client)
            if breaker.status() is None:
                release_parked(
                    redis_client
                )  # closed by `narrate resume`, or while a task was parking: none left behind
                return "closed"
            try:
                credit = _credit(settings, breaker=breaker)
            except NarrateError as exc:
                return f"still open: credit check failed ({exc})"
            if not enough_to_resume(credit, resume_usd=settings.credit_resume_usd):
                log.info(
                    "Fish credit is %.2f, under the %.2f that resumes Fish calls (NARRATE_CREDIT_RESUME_USD):"
                    " still paused",
                    credit,
                    settings.credit_resume_usd,
                )
                return f"still open: credit {credit:.2f} under {settings.credit_resume_usd:.2f}"
            if breaker.close():
                log.info("Fish credit is back (%.2f): resuming Fish calls", credit)
            release_parked(redis_client)
            return "closed"
        finally:
            redis_client.close()


def release_parked(client: redis.Redis) -> int:
    """The work that parked while Fish calls were paused goes back to its queues: the worker side's part of a resume."""
    released = Parking(client).release(sender(app))
    if released:
        log.info("Fish calls resumed: %d parked task(s) sent again", released)
    return released


def _credit(settings: Settings, *, breaker: CreditBreaker) -> float:
    """The account's API credit, through a client made for this one question and closed after it (once a minute)."""
    fish = FishClient(settings, breaker=breaker)
    try:
        return fish.credit()
    finally:
        fish.close()


credit_check = app.register_task(CreditCheckTask())
