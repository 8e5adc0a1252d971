"""Who may receive a webhook: a public address, unless NARRATE_WEBHOOK_ALLOW admits an internal one on purpose.

A URL is checked where it is submitted and again at every send, on every address
its name resolves to then, and the send connects to an address checked here (no
DNS rebinding between the check and the connection).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from worker.errors import BadInput, TransientError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]
ALLOW_SETTING = "NARRATE_WEBHOOK_ALLOW"


class WebhookRefused(BadInput):
    """A receiver the policy does not admit: a person must change the URL or the allow-list."""

    status = "refused by policy"


class UnresolvedHost(TransientError):
    """The receiver's name did not resolve at send time: DNS may answer later."""

    status = "no answer (name did not resolve)"


@dataclass(frozen=True)
class Receiver:
    """A webhook URL taken apart: where to connect, and what to name in Host and SNI."""

    url: str
    scheme: str
    host: str  # lowercase name or IP literal, without brackets
    port: int
    target: str  # path and query, as sent

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port == default else f"{shown}:{self.port}"

    def url_for(self, address: IPAddress) -> str:
        """The URL with the host replaced by one vetted address: the connection cannot go anywhere else."""
        shown = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{shown}:{self.port}{self.target}"


@dataclass(frozen=True)
class AllowList:
    """NARRATE_WEBHOOK_ALLOW: CIDRs and host names admitted even when their addresses are internal."""

    networks: tuple[IPNetwork, ...] = ()
    hosts: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, spec: str) -> AllowList:
        networks: list[IPNetwork] = []
        hosts: set[str] = set()
        for item in (part.strip() for part in spec.split(",")):
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                if "/" in item or ":" in item or " " in item:
                    raise BadInput(
                        f"{ALLOW_SETTING}: {item!r} is neither a CIDR (10.0.0.0/8) nor a host name"
                    ) from None
                hosts.add(item.lower().rstrip("."))
        return cls(networks=tuple(networks), hosts=frozenset(hosts))

    def admits(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def without_query(url: str) -> str:
    """The URL as it may be stored in plans and shown in status: no query (often a token), no fragment, no
    credentials."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def parse(url: str) -> Receiver:
    """The URL's parts, or WebhookRefused saying what is wrong with it."""
    shown = without_query(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRefused(f"webhook {shown!r} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookRefused(f"webhook {shown!r}: expected an http:// or https:// URL")
    if not parts.hostname:
        raise WebhookRefused(f"webhook {shown!r}: the URL names no host")
    if parts.username is not None or parts.password is not None:
        raise WebhookRefused(
            f"webhook {shown!r}: credentials in the URL (user@host) are not sent; put a token in the path or query"
        )
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Receiver(
        url=url,
        scheme=parts.scheme,
        host=parts.hostname.lower().rstrip("."),
        port=port or (443 if parts.scheme == "https" else 80),
        target=target,
    )


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the name resolves to now (TCP), in the resolver's order."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnresolvedHost(f"webhook host {host!r} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def why_internal(address: IPAddress) -> str | None:
    """Why an address is no public receiver, or None if it is one."""
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return why_internal(mapped)
    for kind, flag in (
        ("loopback", address.is_loopback),
        ("link-local (cloud metadata lives there)", address.is_link_local),
        ("multicast", address.is_multicast),
        ("unspecified", address.is_unspecified),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    ):
        if flag:
            return kind
    if not address.is_global:
        return "not a public address"
    return None


def _address(text: str) -> IPAddress:
    return ipaddress.ip_address(text.split("%", 1)[0])  # without an IPv6 zone (fe80::1%eth0)


def vet(url: str, *, allow: AllowList, resolve: Resolver = system_resolver) -> tuple[Receiver, list[IPAddress]]:
    """The receiver and every address it may be sent to; WebhookRefused if any address it resolves to is internal.

    One internal address refuses the whole name: a name that resolves both ways is the rebinding trick.
    """
    receiver = parse(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(receiver.host)
    except ValueError:
        literal = None
    addresses = [literal] if literal is not None else [_address(a) for a in resolve(receiver.host, receiver.port)]
    if literal is None and receiver.host in allow.hosts:
        return receiver, addresses  # an internal receiver admitted by name, on purpose
    for address in addresses:
        reason = why_internal(address)
        if reason and not allow.admits(address):
            named = str(address) if literal is not None else f"{receiver.host} resolves to {address}"
            raise WebhookRefused(
                f"webhook {without_query(url)!r} refused: {named} is {reason}; only public receivers are sent to"
                f" unless {ALLOW_SETTING} admits them (CIDRs or host names, comma-separated)"
            )
    return receiver, addresses
