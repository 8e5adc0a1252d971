"""The one task base class: every task kind applies worker.policy.failures' policy through it.

An attempt can end in the task (success, a wait, a transient, permanent or
unexpected error) or outside it, where only the worker's parent process sees
it: the hard time limit, or the pool process dying (out of memory, evicted).
`PolicyTask` handles the first kind and `PolicyRequest` the second, both
counting against the same unit of work in Redis. Every path either ends the
unit with a reason or leaves exactly one message that will run it again.
"""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any

import redis
from billiard.exceptions import WorkerLostError
from celery import Task
from celery.exceptions import Reject, Retry, TimeLimitExceeded
from celery.worker import state as worker_state
from celery.worker.request import Request

from worker.errors import Wait
from worker.fish.breaker import BreakerOpen, CreditBreaker
from worker.infra.parking import Parking
from worker.observability import metrics
from worker.observability.events import cause_of, event
from worker.policy.credit import release_parked
from worker.policy.failures import ATTEMPTS_KWARG, Unit, Verdict, classify, describe, gave_up, killed
from worker.runtime import redis_client
from worker.settings import get_settings
from worker.support.backoff import retry_delay, wait_delay

log = logging.getLogger("narrate.worker")


class PolicyRequest(Request):
    """The parent process's view of one delivery: it alone sees hard time limits and dead pool processes."""

    _settled = False

    def on_timeout(self, soft: bool, timeout: float) -> None:
        if not soft:
            self._settle(f"it was killed at its hard time limit ({timeout:g} s)")
        super().on_timeout(soft, timeout)  # acknowledges: the unit's record and any new message now carry it

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
        exc = getattr(exc_info.exception, "exc", exc_info.exception)
        if isinstance(exc, TimeLimitExceeded):  # billiard reports the hard limit here first, then on_timeout
            self._settle(f"it was killed at its hard time limit ({exc.args[0] if exc.args else '?'} s)")
        died = isinstance(exc, WorkerLostError) or (
            isinstance(exc, (SystemExit, KeyboardInterrupt)) and not (self._already_cancelled or self._already_revoked)
        )
        if died and not self.acknowledged and not worker_state.should_terminate and self._died():
            self.acknowledge()  # its unit failed for good: not handed out again
        super().on_failure(exc_info, send_failed_event=send_failed_event, return_ok=return_ok)

    def _unit(self) -> Unit | None:
        return self.task.unit_of(tuple(self.args or ()), dict(self.kwargs or {}))

    def _release_lease(self, unit: Unit) -> None:
        """The killed process held the lease; a lease taken since by another delivery stays."""
        leases = self.task.leases()
        if unit.lease and leases is not None and self.worker_pid:
            leases.release_held_by(unit.lease, host=socket.gethostname(), pid=self.worker_pid)

    def _settle(self, reason: str) -> None:
        """After a hard time limit: count the attempt and send the message again, or end the unit (once per
        delivery)."""
        if self._settled or self.acknowledged or worker_state.should_terminate:
            return
        self._settled = True
        try:
            unit = self._unit()
            if unit is None:
                return
            self._release_lease(unit)
            attempt = unit.count_failure()
            if attempt >= unit.max_attempts:
                unit.fail(gave_up(unit, attempts=attempt, error=reason))
                return
            metrics.RETRIES.labels(cause="time_limit").inc()
            settings = get_settings()
            unit.retrying(f"attempt {attempt} failed, retrying: {reason}", attempt=attempt)
            delay = retry_delay(attempt, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
            self.task.apply_async(
                args=self.args,
                kwargs=self.kwargs,
                task_id=self.id,
                countdown=delay,
                queue=(self.delivery_info or {}).get("routing_key"),
            )
        except (redis.RedisError, OSError):
            log.exception(
                "%s: could not record its hard time limit; the sweeper or reconciler will find it", self.task.name
            )

    def _died(self) -> bool:
        """Count one death of the process that ran this delivery; True once the unit has failed for it."""
        try:
            unit = self._unit()
            if unit is None:
                return False
            self._release_lease(unit)
            deaths = unit.count_death()
            if deaths >= unit.max_attempts:
                unit.fail(killed(unit, deaths=deaths, how="killed"))
                return True
            metrics.RETRIES.labels(cause="worker_died").inc()
            unit.resent(f"its worker process died ({deaths} of {unit.max_attempts} allowed); retrying")
            return False
        except redis.RedisError:
            log.exception("%s: could not count its worker's death", self.task.name)
            return False


class PolicyTask(Task):
    """Runs `perform(unit)` and applies the policy to whatever it raises. Subclasses give `unit_of` and `perform`."""

    abstract = True
    Request = PolicyRequest
    acks_late = True
    reject_on_worker_lost = True
    max_retries = None  # bounded by the unit's own counts in Redis, not by the message

    def unit_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Unit | None:
        """The unit a message names; None for a malformed message (refused, and logged, by the subclass)."""
        raise NotImplementedError

    def perform(self, unit: Any) -> Any:
        raise NotImplementedError

    def leases(self) -> Any:
        """The render leases its units hold (worker.renders.lease.RenderLeases), if any."""
        return None

    def run(self, *args: Any, **kwargs: Any) -> Any:
        unit = self.unit_of(args, kwargs)
        if unit is None:
            return None
        try:
            if unit.ended():
                return None  # its book failed or was finished meanwhile: nothing to pay for
            result = self.perform(unit)
        except (Retry, Reject):
            raise
        except Exception as exc:
            return self.handle(unit, exc, kwargs=kwargs)
        with contextlib.suppress(redis.RedisError):
            unit.succeeded()
        return result

    def handle(self, unit: Unit, exc: Exception, *, kwargs: dict[str, Any]) -> None:
        try:
            return self._decide(unit, exc, kwargs=kwargs)
        except redis.RedisError as trouble:
            # Redis itself is in trouble, so the unit's record cannot say what happened: try the unit again later,
            # counted in the message, rather than acknowledge a delivery whose outcome nobody recorded.
            carried = int(kwargs.get(ATTEMPTS_KWARG, 0) or 0) + 1
            if carried >= unit.max_attempts:
                log.error(
                    "%s: %s, and Redis could not record it (%s); the sweeper or reconciler will find it",
                    unit.name,
                    describe(exc),
                    describe(trouble),
                )
                return None
            settings = get_settings()
            delay = retry_delay(carried, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
            raise self._retry(countdown=delay, kwargs={**kwargs, ATTEMPTS_KWARG: carried}) from trouble

    def _decide(self, unit: Unit, exc: Exception, *, kwargs: dict[str, Any]) -> None:
        verdict, cause = classify(exc), cause_of(exc)
        if verdict is Verdict.WAIT:
            assert isinstance(exc, Wait)
            return self._wait(unit, exc)
        if verdict is Verdict.PERMANENT:
            unit.fail(unit.permanent(exc))
            event(log, logging.WARNING, "%s failed: %s", unit.name, exc, task=self.name, error=exc, **unit.fields)
            return None
        attempt = self._count(unit, carried=int(kwargs.get(ATTEMPTS_KWARG, 0) or 0))
        error = describe(exc)
        stop = unit.out_of_time()
        if attempt >= unit.max_attempts or stop:
            event(
                log,
                logging.WARNING if verdict is Verdict.TRANSIENT else logging.ERROR,
                "%s failed for good: %s",
                unit.name,
                error,
                exc_info=verdict is Verdict.UNEXPECTED,
                task=self.name,
                attempt=attempt,
                cause=cause,
                error=exc,
                **unit.fields,
            )
            try:
                unit.fail(f"{stop}; last error: {error}" if stop else gave_up(unit, attempts=attempt, error=error))
            except redis.RedisError:
                log.error("%s: could not record its failure; the sweeper or reconciler will find it", unit.name)
            return None
        metrics.RETRIES.labels(cause=cause).inc()
        settings = get_settings()
        delay = retry_delay(attempt, base=settings.retry_base_seconds, cap=settings.retry_max_seconds)
        event(
            log,
            logging.INFO if verdict is Verdict.TRANSIENT else logging.WARNING,
            "%s: %s; retrying in %.1fs (%d of %d)",
            unit.name,
            error,
            delay,
            attempt,
            unit.max_attempts,
            exc_info=verdict is Verdict.UNEXPECTED,
            task=self.name,
            attempt=attempt,
            cause=cause,
            error=exc,
            delay_seconds=round(delay, 3),
            **unit.fields,
        )
        with contextlib.suppress(redis.RedisError):
            unit.retrying(f"attempt {attempt} failed, retrying: {error}", attempt=attempt)
        raise self._retry(countdown=delay, kwargs={**kwargs, ATTEMPTS_KWARG: attempt})

    def _count(self, unit: Unit, *, carried: int) -> int:
        """Counted in Redis across deliveries; the message's own count stands in while Redis cannot count."""
        try:
            return max(unit.count_failure(), carried + 1)
        except redis.RedisError:
            return carried + 1

    def _wait(self, unit: Unit, exc: Wait) -> None:
        metrics.RETRIES.labels(cause=cause_of(exc)).inc()
        with contextlib.suppress(redis.RedisError):
            unit.waiting(str(exc), exc=exc)
        if isinstance(exc, BreakerOpen):
            return self._park()
        cap = get_settings().longest_countdown
        raise self._retry(countdown=min(cap, exc.delay if exc.delay is not None else wait_delay(exc, cap=cap)))

    def _park(self) -> None:
        """Parked in Redis until the breaker closes; acknowledged here, so nothing re-publishes it meanwhile."""
        request = self.request
        Parking(redis_client()).park(
            task=self.name,
            task_id=request.id,
            args=list(request.args or ()),
            kwargs=dict(request.kwargs or {}),
            queue=(request.delivery_info or {}).get("routing_key"),
        )
        if CreditBreaker(redis_client()).status() is None:  # closed while this one parked: nobody else will release it
            release_parked(redis_client())

    def _retry(self, **options: Any) -> Retry:
        """A retry Celery cannot publish becomes a deleted message; the unit's record still says it is under
        way, so the sweeper or the reconciler sends it again (requeueing would need the Redis that just failed)."""
        try:
            return self.retry(**options)
        except Reject as exc:
            log.error(
                "%s: could not schedule a retry (%s); the sweeper or reconciler will send it again",
                self.name,
                exc.reason,
            )
            raise
