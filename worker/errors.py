"""One root error, split by what the caller should do about it.

`TransientError`: the same request may well succeed later (429, 5xx, timeouts,
connection resets); it is retried with back-off, a bounded number of times.
`PermanentError`: retrying cannot help (bad input, 4xx); the job fails at once
with a message a person can act on.
"""

from __future__ import annotations


class NarrateError(Exception):
    """Root of every error this project raises on purpose."""


class TransientError(NarrateError):
    """Worth retrying: the cause is expected to go away by itself."""

    cause = "other"  # why a retry happens, for metrics and logs


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
