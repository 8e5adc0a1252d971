"""Sending one webhook: a signed JSON POST to a vetted address, never redirected, never through a proxy.

What the receiver answered is classified, not repeated: its body, and how a
connection failed, stay out of anything a submitter reads (`narrate status`),
so the webhook cannot be used to map a network. The worker's log keeps the detail.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import httpx

from worker.errors import PermanentError, TransientError
from worker.settings import Settings
from worker.webhooks.receivers import AllowList, Resolver, WebhookRefused, system_resolver, vet, without_query
from worker.webhooks.signing import SIGNATURE_HEADER, sign

log = logging.getLogger("narrate.webhooks")
TIMEOUT_SECONDS = 10.0


class ReceiverFailed(TransientError):
    """No answer, or a 5xx or 429: a later attempt may get through. `status` is all a submitter sees."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


class ReceiverRejected(PermanentError):
    """A 3xx (redirects are not followed) or 4xx: sending the same notice again cannot help."""

    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class Sender:
    """What every send needs from the settings: the secret, whether unsigned sends are allowed, the allow-list."""

    secret: str | None
    unsigned: bool
    allow: AllowList
    timeout: float = TIMEOUT_SECONDS
    resolve: Resolver = system_resolver

    @classmethod
    def from_settings(cls, settings: Settings) -> Sender:
        return cls(
            secret=settings.webhook_secret.get_secret_value() if settings.webhook_secret else None,
            unsigned=settings.webhook_unsigned,
            allow=AllowList.parse(settings.webhook_allow),
        )

    def send(self, url: str, payload: dict[str, Any]) -> None:
        """POST once; ReceiverFailed for what a retry may fix, WebhookRefused or ReceiverRejected otherwise."""
        if self.secret is None and not self.unsigned:
            raise WebhookRefused("no NARRATE_WEBHOOK_SECRET to sign with, and NARRATE_WEBHOOK_UNSIGNED is not true")
        receiver, addresses = vet(
            url, allow=self.allow, resolve=self.resolve
        )  # again now: the name may point elsewhere
        body = json.dumps(payload, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "narrate-webhook/2",
            "Host": receiver.host_header,
            "X-Narrate-Event": str(payload.get("event", "")),
        }
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(body, secret=self.secret)
        # TLS is checked against the name (SNI and certificate), while the socket goes to the vetted address.
        extensions = {"sni_hostname": receiver.host} if receiver.scheme == "https" else {}
        shown = without_query(url)
        with httpx.Client(timeout=self.timeout, follow_redirects=False, trust_env=False) as client:
            for address in addresses:
                try:
                    answer = client.post(
                        receiver.url_for(address), content=body, headers=headers, extensions=extensions
                    )
                except httpx.TimeoutException as exc:
                    log.info("webhook %s (%s): %s", shown, address, exc.__class__.__name__)
                    raise ReceiverFailed("timeout") from None
                except httpx.HTTPError as exc:
                    log.info("webhook %s (%s): %s", shown, address, exc.__class__.__name__)
                    continue  # the name's next address, if any
                _classify(answer.status_code, shown=shown)
                return
        # Refused connections and timeouts read the same to a submitter: a closed port must not tell from a silent one.
        raise ReceiverFailed("timeout")


def _classify(code: int, *, shown: str) -> None:
    if code < 300:
        return
    log.info("webhook %s answered %d", shown, code)
    status = f"HTTP {code // 100}xx"
    if code >= 500 or code == 429:
        raise ReceiverFailed(status)
    raise ReceiverRejected(f"{status}, not retried" + (" (redirects are not followed)" if code < 400 else ""))
