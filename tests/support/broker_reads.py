"""How often the broker's queues and unacknowledged set were read, as Redis itself counts its commands."""

from __future__ import annotations

import redis

READS = ("lrange", "hscan", "hmget", "zrangebyscore")  # what worker.infra.broker.in_flight sends


def broker_reads(client: redis.Redis) -> dict[str, int]:
    """Calls of each reading command since the last CONFIG RESETSTAT."""
    stats = client.info("commandstats")
    return {name: int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in READS}
