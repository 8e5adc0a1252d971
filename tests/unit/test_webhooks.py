"""Webhook signatures and who may receive webhooks: no service, no network (IP literals and a given resolver)."""

from __future__ import annotations

import socket

import pytest

from worker.settings import Settings
from worker.webhooks.receivers import AllowList, WebhookRefused, parse, vet, why_internal, without_query
from worker.webhooks.signing import sign, verify
from worker.webhooks.submitted import check_notify_url

BODY = b'{"event": "job.finished"}'


def no_dns(host: str, port: int) -> list[str]:
    raise AssertionError(f"{host} was looked up: an IP literal needs no resolver")


def test_a_signature_verifies_and_refuses_tampering_another_secret_and_junk() -> None:
    header = sign(BODY, secret="s3cret")
    assert header.startswith("t=") and ",v1=" in header
    assert verify(BODY, header, secret="s3cret")
    assert not verify(BODY + b" ", header, secret="s3cret")
    assert not verify(BODY, header, secret="other")
    for junk in ("", "sha256=abc", "t=1", "v1=00", "t=x,v1=00"):
        assert not verify(BODY, junk, secret="s3cret")


def test_a_replayed_request_is_refused_after_the_tolerance() -> None:
    header = sign(BODY, secret="s3cret", timestamp=1_700_000_000)
    assert verify(BODY, header, secret="s3cret", now=1_700_000_000 + 299)
    assert not verify(BODY, header, secret="s3cret", now=1_700_000_000 + 301), (
        "a captured request replayed 5 minutes later"
    )
    assert not verify(BODY, header, secret="s3cret", now=1_700_000_000 - 301), "a timestamp far in the future"
    assert verify(BODY, header, secret="s3cret", tolerance=3600, now=1_700_000_000 + 301)


def test_the_timestamp_is_signed_with_the_body() -> None:
    header = sign(BODY, secret="s3cret", timestamp=1_700_000_000)
    moved = header.replace("t=1700000000", "t=1700000500")  # a fresh timestamp on an old signature
    assert not verify(BODY, moved, secret="s3cret", now=1_700_000_500)


def test_a_rotated_secret_is_accepted_with_any_v1() -> None:
    old, new = sign(BODY, secret="old", timestamp=100), sign(BODY, secret="new", timestamp=100)
    both = f"{old},v1={new.split('v1=')[1]}"
    assert verify(BODY, both, secret="new", now=100) and verify(BODY, both, secret="old", now=100)


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://169.254.169.254/latest/meta-data/", "link-local"),
        ("http://10.0.0.1/hook", "private"),
        ("http://127.0.0.1:8080/hook", "loopback"),
        ("http://[::1]/hook", "loopback"),
        ("http://[::ffff:169.254.169.254]/hook", "link-local"),
        ("http://224.0.0.1/hook", "multicast"),
        ("http://240.0.0.1/hook", "reserved"),
        ("http://0.0.0.0/hook", "unspecified"),
        ("http://100.64.0.1/hook", "not a public address"),
    ],
)
def test_internal_addresses_are_refused_without_a_lookup(url: str, kind: str) -> None:
    with pytest.raises(WebhookRefused, match=kind):
        vet(url, allow=AllowList(), resolve=no_dns)


def test_a_name_is_refused_if_any_address_it_resolves_to_is_internal() -> None:
    def rebinding(host: str, port: int) -> list[str]:
        return ["93.184.216.34", "127.0.0.1"]

    with pytest.raises(WebhookRefused, match="hooks.example resolves to 127.0.0.1"):
        vet("https://hooks.example/h", allow=AllowList(), resolve=rebinding)
    receiver, addresses = vet("https://hooks.example/h", allow=AllowList(), resolve=lambda h, p: ["93.184.216.34"])
    assert [str(a) for a in addresses] == ["93.184.216.34"] and receiver.host_header == "hooks.example"


def test_localhost_resolves_to_loopback_and_is_refused_unless_allowed() -> None:
    with pytest.raises(WebhookRefused, match="localhost resolves to .* is loopback"):
        vet("http://localhost:9/hook", allow=AllowList())
    assert vet("http://localhost:9/hook", allow=AllowList.parse("127.0.0.0/8,::1/128"))[1]
    assert vet("http://localhost:9/hook", allow=AllowList.parse("localhost"))[1]
    with pytest.raises(WebhookRefused):
        vet("http://localhost:9/hook", allow=AllowList.parse("10.0.0.0/8,other.internal"))


def test_urls_that_are_no_webhooks_are_refused() -> None:
    for url, why in (
        ("ftp://example.com/x", "http:// or https://"),
        ("http:///x", "no host"),
        ("http://user:pw@example.com/x", "credentials"),
        ("http://example.com:99999/x", "not a valid URL"),
    ):
        with pytest.raises(WebhookRefused, match=why):
            parse(url)


def test_the_query_is_never_shown() -> None:
    assert without_query("https://hooks.example:8443/a/b?token=s3cret#frag") == "https://hooks.example:8443/a/b"


def test_an_allow_list_entry_that_is_neither_cidr_nor_name_is_refused() -> None:
    with pytest.raises(Exception, match="NARRATE_WEBHOOK_ALLOW"):
        AllowList.parse("10.0.0.0/33")


def test_the_public_internet_is_public() -> None:
    import ipaddress

    assert why_internal(ipaddress.ip_address("93.184.216.34")) is None
    assert why_internal(ipaddress.ip_address("2606:2800:220:1::1")) is None


def test_submit_refuses_metadata_and_private_receivers_without_any_network_traffic(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network traffic")

    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    settings = Settings(webhook_secret="s")
    for url in ("http://169.254.169.254/latest/meta-data/iam", "http://10.0.0.1/hook?token=abc"):
        with pytest.raises(WebhookRefused, match="refused") as refused:
            check_notify_url(url, settings=settings)
        assert "token=abc" not in str(refused.value), "the query is not echoed"


def test_submit_refuses_an_unsigned_webhook_naming_both_settings() -> None:
    with pytest.raises(Exception, match="NARRATE_WEBHOOK_SECRET.*NARRATE_WEBHOOK_UNSIGNED=true"):
        check_notify_url("http://93.184.216.34/hook", settings=Settings())
    assert (
        check_notify_url("http://93.184.216.34/hook", settings=Settings(webhook_unsigned=True))
        == "http://93.184.216.34/hook"
    )


def test_the_documented_test_vector_is_what_sign_gives() -> None:
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    body = b'{"event": "job.finished", "job_id": "0123456789abcdef0123456789abcdef", "state": "succeeded"}'
    expected = sign(body, secret="whsec_test", timestamp=1_700_000_000)
    assert body.decode() in page and f"\n{expected}\n" in page
    assert verify(body, expected, secret="whsec_test", now=1_700_000_000)
