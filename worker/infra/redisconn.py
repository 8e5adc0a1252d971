"""Redis clients from the broker URL: redis://, rediss://, or Redis Sentinel for high availability.

A Sentinel URL is kombu's: one `sentinel://` per Sentinel, separated by `;`,
the master's password and database in the first, and the master's name in
NARRATE_REDIS_MASTER_NAME:

    sentinel://:secret@10.0.0.1:26379/0;sentinel://10.0.0.2:26379;sentinel://10.0.0.3:26379

Every client follows the master Sentinel names, so a failover moves the
producers, the workers and beat with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol
from urllib.parse import unquote, urlsplit

import redis
from redis.sentinel import Sentinel

SENTINEL_SCHEME = "sentinel"


@dataclass(frozen=True)
class SentinelURL:
    hosts: tuple[tuple[str, int], ...]
    password: str | None = None
    username: str | None = None
    db: int = 0


def is_sentinel(url: str) -> bool:
    return urlsplit(url).scheme == SENTINEL_SCHEME


def parse_sentinel(url: str) -> SentinelURL:
    """The Sentinels and the master's credentials and database; ValueError says what is wrong."""
    hosts: list[tuple[str, int]] = []
    password = username = None
    db = 0
    for number, part in enumerate(p for p in url.split(";") if p.strip()):
        parts = urlsplit(part.strip())
        if parts.scheme != SENTINEL_SCHEME or not parts.hostname:
            raise ValueError(f"{part.strip()!r}: each part of a Sentinel URL is sentinel://[:password@]host:port[/db]")
        hosts.append((parts.hostname, parts.port or 26379))
        if number == 0:
            password = unquote(parts.password) if parts.password else None
            username = unquote(parts.username) if parts.username else None
            path = parts.path.strip("/")
            if path and not path.isdigit():
                raise ValueError(f"{part.strip()!r}: the database is a number, e.g. /0")
            db = int(path or 0)
    return SentinelURL(hosts=tuple(hosts), password=password, username=username, db=db)


class RedisSettings(Protocol):
    """What a connection needs of the settings (worker.settings.Settings has both)."""

    broker_url: str
    redis_master_name: str


def connect_with(settings: RedisSettings) -> redis.Redis:
    """A client of the settings' Redis: the settings given, never the environment read again here."""
    return connect(settings.broker_url, master_name=settings.redis_master_name)


def connect(url: str, *, master_name: str = "") -> redis.Redis:
    """A client of the URL's Redis; for Sentinel, of the current master of `master_name`."""
    if not is_sentinel(url):
        return redis.Redis.from_url(url)
    if not master_name:
        raise ValueError("a sentinel:// URL needs the master's name (NARRATE_REDIS_MASTER_NAME)")
    found = parse_sentinel(url)
    sentinel = Sentinel(
        list(found.hosts), socket_timeout=5.0, password=found.password, username=found.username, db=found.db
    )
    return sentinel.master_for(master_name, socket_timeout=30.0)


def celery_redis_conf(url: str, *, master_name: str, transport_options: dict) -> dict:
    """The Celery settings that reach Redis through this URL: the broker's transport options and RedBeat's
    connection."""
    if not is_sentinel(url):
        return {"broker_transport_options": transport_options, "redbeat_redis_url": url}
    found = parse_sentinel(url)
    return {
        "broker_transport_options": {**transport_options, "master_name": master_name},
        "redbeat_redis_url": "redis-sentinel://",
        "redbeat_redis_options": {
            "sentinels": list(found.hosts),
            "service_name": master_name,
            "password": found.password,
            "db": found.db,
            "socket_timeout": 5.0,
        },
    }
