"""PromQL in deploy/ checked against the code: every query parses, and names only metrics (and labels) the code
defines, queues that exist and scrape jobs scrape.yaml defines."""

from __future__ import annotations

from functools import cache

import promql_parser
import yaml
from prometheus_client.metrics import MetricWrapperBase

from tests.support.deploy_files import DEPLOY
from worker.app import ALL_QUEUES

SCRAPE = DEPLOY / "prometheus" / "scrape.yaml"


# Labels Prometheus adds to every sample of a target (scrape.yaml's relabelling included).
TARGET_LABELS = {"job", "instance", "namespace", "pod", "deployment"}


# Grafana's own variables, replaced by a duration before the query reaches Prometheus.
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__interval": "1m", "$__range": "1h"}


SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_sum", "_count"),
    "gauge": ("",),
    "summary": ("", "_sum", "_count"),
}


class _NoRedis:
    """Just enough of a Redis client for ClusterCollector to name its families."""

    def register_script(self, script: str) -> object:
        return lambda *args, **kwargs: None

    def llen(self, key: str) -> int:
        return 0

    def lindex(self, key: str, index: int) -> None:
        return None

    def time(self) -> tuple[int, int]:
        return (0, 0)

    def zcount(self, *args: object) -> int:
        return 0

    def hgetall(self, key: str) -> dict:
        return {}


@cache
def defined_metrics() -> dict[str, frozenset[str]]:
    """Every series name the code exposes, with its labels: the workers' collectors, the cluster's, and `up`."""
    import worker.observability.metrics
    from worker.observability.cluster_metrics import ClusterCollector

    found: dict[str, frozenset[str]] = {"up": frozenset()}
    for collector in vars(worker.observability.metrics).values():
        if isinstance(collector, MetricWrapperBase):
            for family in collector.describe():
                for suffix in SUFFIXES[family.type]:
                    found[family.name + suffix] = frozenset(collector._labelnames) | (
                        {"le"} if suffix == "_bucket" else set()
                    )
    collector = ClusterCollector(
        _NoRedis(), queues=ALL_QUEUES, cap=5, slots_in_use=lambda: 0, breaker_open=lambda: False
    )  # type: ignore[arg-type]
    for family in collector.collect():
        for suffix in SUFFIXES[family.type]:
            found[family.name + suffix] = frozenset().union(*(sample.labels for sample in family.samples))
    assert {
        "narrate_jobs_total",
        "narrate_fish_request_seconds_bucket",
        "narrate_queue_depth",
        "narrate_breaker_open",
    } <= set(found)
    return found


def parse(expr: str) -> promql_parser.Expr:
    for variable, duration in GRAFANA_VARIABLES.items():
        expr = expr.replace(variable, duration)
    assert "$" not in expr, f"an unknown Grafana variable in {expr!r}"
    try:
        return promql_parser.parse(expr)
    except ValueError as error:
        raise AssertionError(f"not PromQL: {expr!r}: {error}") from None


def selectors(expr: str) -> tuple[list[tuple[str, dict[str, str]]], set[str]]:
    """The metrics an expression selects (with their equality matchers) and every label it names."""
    metrics: list[tuple[str, dict[str, str]]] = []
    labels: set[str] = set()

    def visit(node: object, *_: object) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            matchers = node.matchers.matchers if node.matchers else []
            name = node.name or next((m.value for m in matchers if m.name == "__name__"), None)
            assert name, f"a selector without a metric name in {expr!r}"
            metrics.append((name, {m.name: m.value for m in matchers if m.op == promql_parser.MatchOp.Equal}))
            labels.update(m.name for m in matchers if m.name != "__name__")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            labels.update(node.modifier.labels)
        elif (
            isinstance(node, promql_parser.BinaryExpr)
            and node.modifier is not None
            and node.modifier.matching is not None
        ):
            labels.update(node.modifier.matching.labels)

    promql_parser.walk(parse(expr), visit)
    return metrics, labels


def check_names_only_real_metrics(expr: str, where: str) -> set[str]:
    metrics, labels = selectors(expr)
    defined = defined_metrics()
    unknown = sorted({name for name, _ in metrics} - set(defined))
    assert not unknown, f"{where}: no such metric {unknown} in {expr!r}"
    known_labels = set().union(*(defined[name] for name, _ in metrics)) | TARGET_LABELS
    assert labels <= known_labels, f"{where}: no such label {sorted(labels - known_labels)} in {expr!r}"
    for name, matchers in metrics:
        if "queue" in matchers:
            assert matchers["queue"] in ALL_QUEUES, f"{where}: no queue {matchers['queue']!r}"
        if name == "up":
            assert matchers.get("job") in scrape_jobs(), f"{where}: up of a job scrape.yaml does not define"
    return {name for name, _ in metrics}


@cache
def scrape_jobs() -> dict[str, dict]:
    return {job["job_name"]: job for job in yaml.safe_load(SCRAPE.read_text())["scrape_configs"]}
