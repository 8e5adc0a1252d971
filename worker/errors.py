"""One root error, split by what the caller should do about it.

    NarrateError
     ├── TransientError          retried with back-off; each try uses one attempt (NARRATE_MAX_ATTEMPTS)
     │    ├── Wait               not a failure: capacity, credit or another delivery is not free yet; uses no attempt
     │    │    ├── LeaseTaken          (worker.renders.lease)  another delivery renders the same job or chunk
     │    │    ├── SlotUnavailable     (worker.fish.limiter)   every Fish slot of the cluster is taken
     │    │    │    └── PromotionPending (worker.voices.speaker) the reference's trained voice is nearly ready
     │    │    ├── BreakerOpen         (worker.fish.breaker)   Fish calls are paused after a 402: the work parks
     │    │    └── Progressing         a long render stored chunks before its time ran out: it goes on
     │    ├── FishUnavailable    429, 5xx, timeouts, resets
     │    ├── StorageUnavailable S3 unreachable, throttling or failing
     │    └── DiskFull           (worker.audio.scratch) no room on local disk for a spool or a join
     └── PermanentError          the unit of work fails at once, with a message a person can act on
          ├── BadInput ── AudioError
          ├── InvalidJob
          ├── FishRejected ── VoiceNotFound
          ├── CannotHear     (worker.fish.heard) audio speech-to-text does not take: under 1 s, over 60 min or 20 MB
          └── StorageRejected

Foreign errors are sorted by `worker.policy.failures.classify`: Celery's soft time
limit and Redis connection errors are transient; anything else unexpected
(most likely a bug) is retried like a transient error and then fails its unit.
"""

from __future__ import annotations


class NarrateError(Exception):
    """Root of every error this project raises on purpose."""


class TransientError(NarrateError):
    """Worth retrying: the cause is expected to go away by itself."""

    cause = "other"  # why a retry happens, for metrics and logs


class Wait(TransientError):
    """Not a failure: the work cannot go on yet and tries again after `delay` seconds (None: the policy's own)."""

    cause = "wait"

    def __init__(self, message: str, *, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Progressing(Wait):
    """A long task stored part of its work before its time ran out: it goes on where it stopped, no attempt used."""

    cause = "time_limit"


class PermanentError(NarrateError):
    """Not worth retrying: something about the request has to change."""


class BadInput(PermanentError):
    """Input a user supplied is wrong; the message says what and how to fix it."""


class AudioError(BadInput):
    """Bytes that should be audio cannot be decoded."""


class InvalidJob(PermanentError):
    """A job message does not match the wire contract."""


class FishRejected(PermanentError):
    """The Fish API refused the request (400/401/402/403/422)."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class VoiceNotFound(FishRejected):
    """The Fish API does not know the `reference_id` (404, or 400 naming it)."""


class CannotHear(PermanentError):
    """Audio Fish's speech-to-text does not take (under 1 s, over 60 min, over 20 MB), refused before any request.

    A caller may skip hearing such a take on purpose; the message says what and why.
    """


class FishUnavailable(TransientError):
    """The Fish API is busy or failing (429, 5xx, timeouts, resets)."""

    def __init__(self, message: str, *, cause: str = "server_error") -> None:
        """`cause`: rate_limited, server_error or timeout, for metrics and logs."""
        super().__init__(message)
        self.cause = cause


class StorageUnavailable(TransientError):
    """The S3 endpoint is unreachable, throttling or failing."""

    cause = "storage"


class StorageRejected(PermanentError):
    """S3 refused the request in a way retries cannot fix (no such bucket, access denied)."""
