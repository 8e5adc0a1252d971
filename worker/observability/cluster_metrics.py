"""The cluster's own figures, read from Redis at each scrape: served once per cluster by `narrate metrics serve`.

Queue depth and the age of the oldest waiting message per queue (from the
`narrate_sent_at` header every message is stamped with when it is published),
Fish slots in use against the cap, and the credit breaker. Every worker would
report the same numbers, so none of them does.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import redis
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from worker.contract import SENT_AT_HEADER


class ClusterCollector(Collector):
    def __init__(
        self,
        client: redis.Redis,
        *,
        queues: tuple[str, ...],
        cap: int,
        slots_in_use: Callable[[], int],
        breaker_open: Callable[[], bool],
    ) -> None:
        """`slots_in_use`, `breaker_open`: read from the Fish adapter's own state (the slot cap and the breaker)."""
        self._redis = client
        self._queues = queues
        self._cap = cap
        self._slots_in_use = slots_in_use
        self._breaker_open = breaker_open

    def collect(self) -> Iterator[GaugeMetricFamily]:
        depth = GaugeMetricFamily(
            "narrate_queue_depth",
            "Messages waiting in each queue (not those a worker holds already).",
            labels=["queue"],
        )
        age = GaugeMetricFamily(
            "narrate_queue_oldest_age_seconds",
            "Age of the oldest message waiting in each queue (0: none).",
            labels=["queue"],
        )
        now = time.time()
        for queue in self._queues:
            depth.add_metric([queue], self._redis.llen(queue))
            age.add_metric([queue], max(0.0, now - sent) if (sent := self._oldest(queue)) else 0.0)
        yield depth
        yield age
        yield GaugeMetricFamily(
            "narrate_fish_slots_in_use", "Fish requests in flight, cluster-wide.", value=self._slots_in_use()
        )
        yield GaugeMetricFamily(
            "narrate_fish_slots_cap", "NARRATE_FISH_CONCURRENCY: the cluster-wide cap.", value=self._cap
        )
        yield GaugeMetricFamily(
            "narrate_breaker_open",
            "1 while the 402 credit breaker holds Fish calls.",
            value=1.0 if self._breaker_open() else 0.0,
        )

    def _oldest(self, queue: str) -> float | None:
        raw = self._redis.lindex(queue, -1)  # kombu pushes on the left and pops on the right
        if raw is None:
            return None
        try:
            return float(json.loads(raw)["headers"][SENT_AT_HEADER])
        except (ValueError, KeyError, TypeError):
            return None  # a message from a producer that does not stamp it
