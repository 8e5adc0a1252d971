"""The credit check beat runs while the 402 breaker is open."""

from __future__ import annotations

import logging

from celery import Task

from worker.app import app
from worker.contract import CREDIT_CHECK_TASK
from worker.errors import NarrateError
from worker.fish.breaker import CreditBreaker
from worker.fish.client import FishClient
from worker.redisconn import connect as connect_redis
from worker.settings import get_settings

log = logging.getLogger("narrate.worker")


class CreditCheckTask(Task):
    """While the 402 breaker is open, ask Fish for the account's credit; close the breaker once there is some."""

    name = CREDIT_CHECK_TASK

    def run(self) -> str:
        settings = get_settings()
        breaker = CreditBreaker(connect_redis(settings.broker_url))
        if breaker.status() is None:
            return "closed"
        try:
            credit = FishClient(settings, breaker=breaker).credit()
        except NarrateError as exc:
            return f"still open: credit check failed ({exc})"
        if credit > 0:
            breaker.close()
            log.info("Fish credit is back (%.2f): resuming Fish calls", credit)
            return "closed"
        return "still open: no credit"


credit_check = app.register_task(CreditCheckTask())
