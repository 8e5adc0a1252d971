"""Webhook signatures with a timestamp, as Stripe's: a captured request cannot be replayed after the tolerance.

    X-Narrate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, keyed with the shared secret>

A receiver calls `verify(body, header, secret=...)` on the raw body it read, before parsing it.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Narrate-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def _mac(body: bytes, *, timestamp: int, secret: str) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(body: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """The header value for `body`, signed now (or at `timestamp`)."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={_mac(body, timestamp=stamp, secret=secret)}"


def verify(
    body: bytes, header: str, *, secret: str, tolerance: float = DEFAULT_TOLERANCE_SECONDS, now: float | None = None
) -> bool:
    """True if `header` signs exactly `body` with `secret`, at a time within `tolerance` seconds of now.

    Constant-time comparison; any `v1=` may match (several are allowed while a secret is rotated).
    """
    stamp: int | None = None
    candidates: list[str] = []
    for part in (header or "").split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            stamp = int(value)
        elif name == "v1":
            candidates.append(value)
    if stamp is None or not candidates:
        return False
    if abs((time.time() if now is None else now) - stamp) > tolerance:
        return False  # too old (a replay) or from a clock far ahead
    expected = _mac(body, timestamp=stamp, secret=secret)
    return any(hmac.compare_digest(expected, candidate) for candidate in candidates)
