"""Completion webhooks: a JSON POST signed with HMAC-SHA256, so receivers can trust it."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx

from worker.errors import PermanentError, TransientError

SIGNATURE_HEADER = "X-Narrate-Signature"


def signature(body: bytes, *, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def send(url: str, payload: dict[str, Any], *, secret: str | None, timeout: float = 10.0) -> None:
    """POST once; TransientError for what a retry may fix (5xx, 429, network), PermanentError otherwise."""
    body = json.dumps(payload, sort_keys=True).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "narrate-webhook/1", "X-Narrate-Event": payload.get("event", "")}
    if secret:
        headers[SIGNATURE_HEADER] = signature(body, secret=secret)
    try:
        answer = httpx.post(url, content=body, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise TransientError(f"webhook {url} unreachable ({exc.__class__.__name__})") from None
    if answer.status_code >= 500 or answer.status_code == 429:
        raise TransientError(f"webhook {url} answered {answer.status_code}")
    if answer.status_code >= 400:
        raise PermanentError(f"webhook {url} refused the notification ({answer.status_code})")


def verify(body: bytes, header: str, *, secret: str) -> bool:
    """For receivers: does `header` (X-Narrate-Signature) sign `body`? Constant-time, so it leaks no prefix."""
    return hmac.compare_digest(signature(body, secret=secret), header or "")
