"""One failure policy for every kind of task: what an error means, and how often a unit of work may fail.

A unit of work is what a person would name when it fails: a job, a book's chunk,
a chapter's or the book's assembly, a promotion, a webhook, a pipeline run. Its
attempts and its worker deaths are counted in Redis, so a redelivery, a retry
and a copy the reconciler sends again all draw on the same bound; past it the
unit ends for good with a reason a person can act on. No Celery here: the task
base class (worker.policy.task) and the worker's parent process both decide through
these classes.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod

import redis

from worker.errors import NarrateError, PermanentError, TransientError, Wait

ATTEMPTS_KWARG = "errors"  # the count a message carries when Redis could not count (Redis itself in trouble)
LEGACY_KWARGS = ("failures", "errors")  # counts older messages carried; read as a floor, never trusted alone


class Verdict(enum.Enum):
    WAIT = "wait"  # try again soon; uses no attempt
    TRANSIENT = "transient"  # try again with back-off; uses one attempt
    PERMANENT = "permanent"  # the unit fails now
    UNEXPECTED = "unexpected"  # most likely a bug: retried like a transient error, then the unit fails


def classify(exc: BaseException) -> Verdict:
    """The one place that decides what an error means for the unit of work that raised it."""
    if isinstance(exc, Wait):
        return Verdict.WAIT
    if isinstance(exc, TransientError):
        return Verdict.TRANSIENT
    if isinstance(exc, NarrateError):  # PermanentError, and any other error of ours: retrying cannot help
        return Verdict.PERMANENT
    if exc.__class__.__name__ == "SoftTimeLimitExceeded":  # Celery's, by name: this module stays free of Celery
        return Verdict.TRANSIENT
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return Verdict.TRANSIENT  # Redis dropping a connection is the same trouble as S3 or Fish doing it
    return Verdict.UNEXPECTED


def describe(exc: BaseException) -> str:
    """An error as a person reads it: ours say what to do; a foreign one says what it is."""
    if isinstance(exc, (TransientError, PermanentError)):
        return str(exc)
    if exc.__class__.__name__ == "SoftTimeLimitExceeded":
        return "it ran past its soft time limit"
    if isinstance(exc, (redis.ConnectionError, redis.TimeoutError)):
        return f"Redis unreachable ({exc.__class__.__name__})"
    if isinstance(exc, redis.RedisError):
        return f"Redis refused a write ({str(exc)[:120]})"
    return f"internal error: {exc.__class__.__name__}: {str(exc)[:200]}"


class Attempts:
    """Failures and worker deaths of units of work, as fields of one Redis hash (a book's, or one per unit)."""

    def __init__(self, client: redis.Redis, key: str, *, field: str, ttl_seconds: int) -> None:
        self._redis = client
        self._key = key
        self._field = field
        self._ttl = ttl_seconds

    def add(self, kind: str) -> int:
        """Count one failure or death (`kind`); the count so far, this one included."""
        pipe = self._redis.pipeline(transaction=True)
        pipe.hincrby(self._key, f"{self._field}:{kind}", 1)
        pipe.expire(self._key, self._ttl)
        return int(pipe.execute()[0])

    def clear(self) -> None:
        self._redis.hdel(self._key, f"{self._field}:failures", f"{self._field}:deaths")


class Unit(ABC):
    """One unit of work as the policy sees it. Subclasses say how to count, note and end it."""

    #: How its own record names it: "the job", "chunk 3.17 (\"It was a dark…\")", "chapter 7's assembly".
    label: str = "the task"
    #: How logs name it, among every unit of the cluster: "job 3f2a…", "book 9c1e…: chapter 7's assembly".
    name: str = "a task"
    #: Facts for the log lines about it (job_id, book_id, chapter, chunk).
    fields: dict[str, object] = {}
    #: The render lease its delivery holds, released by the worker's parent when the pool process dies.
    lease: str | None = None

    def __init__(self, *, max_attempts: int) -> None:
        self.max_attempts = max_attempts

    def ended(self) -> bool:
        """True when the unit has already ended (its book failed, say): a delivery then does nothing."""
        return False

    def count_failure(self) -> int:
        return self.attempts().add("failures")

    def count_death(self) -> int:
        return self.attempts().add("deaths")

    def out_of_time(self) -> str | None:
        """Why the unit may not be retried any more, apart from its attempts (a job's NARRATE_MAX_RETRY_SECONDS)."""
        return None

    def waiting(self, note: str, *, exc: BaseException) -> None:
        """Best effort: record that the unit waits (capacity, credit, a lease), with nothing counted."""

    def retrying(self, note: str, *, attempt: int) -> None:
        """Best effort: record that an attempt failed and another follows."""

    def resent(self, note: str) -> None:
        """Best effort: its worker died and the broker hands the message out again."""

    def succeeded(self) -> None:
        """The unit's step ran to its end: counts that would only matter to a later failure may go."""

    def permanent(self, exc: BaseException) -> str:
        """The reason a permanent error ends the unit with."""
        return str(exc)

    def attempts(self) -> Attempts:
        """Where this unit's failures and deaths are counted (a unit that counts elsewhere overrides the two counts)."""
        raise NotImplementedError

    @abstractmethod
    def fail(self, reason: str) -> None:
        """End the unit for good with `reason`, which names it: a person reads it in `narrate status`."""


def gave_up(unit: Unit, *, attempts: int, error: str) -> str:
    return f"{unit.label} failed {attempts} times (NARRATE_MAX_ATTEMPTS is {unit.max_attempts}); last error: {error}"


def killed(unit: Unit, *, deaths: int, how: str) -> str:
    return (
        f"{unit.label} was {how} {deaths} times (out of memory, or a time limit too short for it?);"
        " not retried again: check the input and the workers' memory and limits, then `narrate retry`"
    )
