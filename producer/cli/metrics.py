"""`narrate metrics serve`: the cluster's queues, Fish slots and breaker as Prometheus metrics, once per cluster."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from producer.cli.console import console, settings_or_exit
from worker.infra.redisconn import connect_with

metrics_app = typer.Typer(
    no_args_is_help=True, rich_markup_mode=None, help="Prometheus metrics of the cluster (workers serve their own)."
)


@metrics_app.command("serve")
def serve(
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port of /metrics.")] = 9808,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on; default NARRATE_METRICS_HOST (loopback).")
    ] = None,
) -> None:
    """Serve queue depth and age, Fish slots in use against the cap, and the breaker, read from Redis at each scrape.

    Run one per cluster (every worker would report the same numbers); workers serve their own counts on
    NARRATE_METRICS_PORT.
    """
    from prometheus_client import CollectorRegistry, start_http_server

    from worker.contract import ALL_QUEUES
    from worker.observability.cluster_metrics import ClusterCollector

    settings = settings_or_exit()
    host = host or settings.metrics_host
    registry = CollectorRegistry()
    from worker.fish.breaker import CreditBreaker
    from worker.fish.limiter import FishLimiter

    client = connect_with(settings)
    limiter, breaker = FishLimiter(client, limit=settings.fish_concurrency, lease_seconds=1), CreditBreaker(client)
    registry.register(
        ClusterCollector(
            client,
            queues=ALL_QUEUES,
            cap=settings.fish_concurrency,
            slots_in_use=limiter.in_use,
            breaker_open=lambda: breaker.status() is not None,
        )
    )
    start_http_server(port, addr=host, registry=registry)
    console.print(f"serving cluster metrics on http://{host}:{port}/metrics (Ctrl-C stops)", markup=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        raise typer.Exit(0) from None
