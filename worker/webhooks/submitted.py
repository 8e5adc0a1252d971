"""A webhook URL as a submitter gives it: refused at once (exit 2) when it could never be delivered."""

from __future__ import annotations

from worker.errors import BadInput
from worker.settings import Settings
from worker.webhooks.receivers import AllowList, UnresolvedHost, WebhookRefused, vet

UNSIGNED_SETTING = "NARRATE_WEBHOOK_UNSIGNED"
SECRET_SETTING = "NARRATE_WEBHOOK_SECRET"


def check_notify_url(url: str | None, *, settings: Settings, option: str = "--notify") -> str | None:
    """`url` if it may be notified, resolved and checked now; BadInput (WebhookRefused for the policy) if not."""
    if url is None:
        return None
    if settings.webhook_secret is None and not settings.webhook_unsigned:
        raise BadInput(
            f"{option}: webhooks are signed with {SECRET_SETTING}, which is not set: set it (receivers check"
            f" X-Narrate-Signature with it), or set {UNSIGNED_SETTING}=true to send them unsigned"
        )
    try:
        vet(url, allow=AllowList.parse(settings.webhook_allow))
    except WebhookRefused as exc:
        raise WebhookRefused(f"{option}: {exc}") from None
    except UnresolvedHost as exc:
        raise BadInput(f"{option}: {exc}: check the URL") from None
    return url
