"""deploy/grafana and deploy/prometheus: every query parses as PromQL and names only metrics (and labels) the code
defines.

No promtool here (none is published on PyPI): the PromQL parser stands in for its syntax check, and the
structural checks below for the rest of `promtool check rules`.
"""

from __future__ import annotations

import json
import re
from functools import cache

import promql_parser
import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from tests.repo.test_deploy import DEPLOY, ROOT
from tests.repo.test_deploy_k8s import containers, deployments, metrics_address, worker_deployments
from worker.app import ALL_QUEUES

DASHBOARD = DEPLOY / "grafana" / "narrate.json"
ALERTS = DEPLOY / "prometheus" / "alerts.yaml"
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


# --- the dashboard ----------------------------------------------------------------------------------------------


@cache
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


def panels() -> list[dict]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def exprs_of(panel: dict) -> list[str]:
    return [t["expr"] for t in panel.get("targets", [])]


def test_the_dashboard_is_a_grafana_dashboard_with_a_datasource_variable() -> None:
    board = dashboard()
    assert board["title"] and re.fullmatch(r"[\w-]{1,40}", board["uid"]) and isinstance(board["schemaVersion"], int)
    [variable] = [v for v in board["templating"]["list"] if v["type"] == "datasource"]
    assert variable["query"] == "prometheus"
    reference = "${" + variable["name"] + "}"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    for panel in panels():
        assert panel["title"] and panel["type"] in ("timeseries", "stat", "gauge", "bargauge", "table", "heatmap"), (
            panel["title"]
        )
        assert panel["datasource"]["uid"] == reference, f"{panel['title']}: the data source comes from the variable"
        assert panel["targets"] and all(
            t["expr"] and t["refId"] and t["datasource"]["uid"] == reference for t in panel["targets"]
        )
        assert len({t["refId"] for t in panel["targets"]}) == len(panel["targets"])


def test_the_dashboard_panels_do_not_overlap() -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert (
            all(isinstance(grid[k], int) for k in ("x", "y", "w", "h"))
            and 0 <= grid["x"]
            and grid["x"] + grid["w"] <= 24
        )
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


# title -> metrics its queries must read, and text the queries must hold
REQUIRED_PANELS = {
    "Throughput": ({"narrate_jobs_total", "narrate_book_chunks_total"}, ["by (state)"]),
    "Spend per hour": ({"narrate_fish_spend_usd_total"}, ["increase(narrate_fish_spend_usd_total[1h])"]),
    "Bytes saved by promotion": (
        {"narrate_reference_bytes_sent_total", "narrate_fish_requests_total"},
        ['voice_mode="reference_id"'],
    ),
    "Fish requests in flight vs cap": ({"narrate_fish_slots_in_use", "narrate_fish_slots_cap"}, []),
    "Failures and retries by cause": (
        {"narrate_retries_total", "narrate_jobs_total"},
        ["by (cause)", 'state="failed"'],
    ),
    "Queue depth": ({"narrate_queue_depth"}, ["by (queue)"]),
    "Oldest message age": ({"narrate_queue_oldest_age_seconds"}, ["by (queue)"]),
    "Book tail times": (
        {"narrate_assembly_seconds_bucket"},
        ["histogram_quantile(0.5,", "histogram_quantile(0.95,", "kind"],
    ),
    "Fish latency p50 / p95 by voice mode": (
        {"narrate_fish_request_seconds_bucket"},
        ["histogram_quantile(0.5,", "histogram_quantile(0.95,", "voice_mode"],
    ),
    "Credit breaker": ({"narrate_breaker_open"}, []),
}


@pytest.mark.parametrize("title", sorted(REQUIRED_PANELS))
def test_the_dashboard_has_the_panel(title: str) -> None:
    [panel] = [p for p in panels() if p["title"] == title]
    metrics, texts = REQUIRED_PANELS[title]
    read = set().union(*(check_names_only_real_metrics(e, title) for e in exprs_of(panel)))
    assert metrics <= read, f"{title}: reads {sorted(read)}, needs {sorted(metrics)}"
    joined = " ".join(exprs_of(panel))
    for text in texts:
        assert text in joined, f"{title}: {text!r} not in its queries"
    assert panel.get("description"), f"{title}: says what it shows"


def test_every_dashboard_query_names_only_real_metrics() -> None:
    for panel in panels():
        for expr in exprs_of(panel):
            check_names_only_real_metrics(expr, panel["title"])
    used = {family(name) for p in panels() for e in exprs_of(p) for name, _ in selectors(e)[0]}
    unshown = {family(name) for name in defined_metrics()} - used
    assert not unshown, f"metrics no panel shows: {sorted(unshown)}"


def family(series: str) -> str:
    """narrate_jobs_total -> narrate_jobs; narrate_fish_request_seconds_bucket -> narrate_fish_request_seconds."""
    return re.sub(r"_(total|bucket|sum|count)$", "", series) if series in defined_metrics() else series


# --- the alert rules and the scrape configs ---------------------------------------------------------------------


@cache
def scrape_jobs() -> dict[str, dict]:
    return {job["job_name"]: job for job in yaml.safe_load(SCRAPE.read_text())["scrape_configs"]}


def rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    return [rule for group in groups for rule in group["rules"]]


def readme_anchors() -> set[str]:
    headings = re.findall(r"^#{1,6} (.+)$", (ROOT / "README.md").read_text(), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


REQUIRED_ALERTS = {
    "NarrateBreakerOpen",
    "NarrateJobFailureRate",
    "NarrateQueueAgeGrowing",
    "NarrateNoWorkerUp",
    "NarratePromotionsFailing",
}


def test_the_alert_rules_have_what_prometheus_and_a_person_need() -> None:
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names)) and REQUIRED_ALERTS <= set(names)
    anchors = readme_anchors()
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert re.fullmatch(r"(\d+[smhd])+", rule["for"]), f"{rule['alert']}: for {rule['for']!r}"
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page == "README.md" and anchor in anchors, f"{rule['alert']}: no README section #{anchor}"
        for text in rule["annotations"].values():
            for variable in re.findall(r"\$labels\.(\w+)", text):
                assert variable in selectors(rule["expr"])[1], (
                    f"{rule['alert']}: $labels.{variable} is not kept by its expr"
                )


@pytest.mark.parametrize("rule", rules(), ids=lambda r: r["alert"])
def test_every_alert_expression_parses_and_names_only_real_metrics(rule: dict) -> None:
    check_names_only_real_metrics(rule["expr"], rule["alert"])


def test_the_alerts_say_what_the_brief_asks() -> None:
    by_name = {rule["alert"]: " ".join(rule["expr"].split()) for rule in rules()}
    assert "narrate_breaker_open" in by_name["NarrateBreakerOpen"]
    assert [r["for"] for r in rules() if r["alert"] == "NarrateBreakerOpen"] == ["5m"]
    assert re.search(
        r'narrate_jobs_total\{state="failed"\}\[15m\].*/.*narrate_jobs_total\[15m\].*> 0\.05',
        by_name["NarrateJobFailureRate"],
    )
    assert (
        "narrate_queue_oldest_age_seconds" in by_name["NarrateQueueAgeGrowing"]
        and "deriv(" in by_name["NarrateQueueAgeGrowing"]
    )
    assert by_name["NarrateNoWorkerUp"] == 'absent(up{job="narrate-worker"} == 1)'
    assert 'outcome="failed"' in by_name["NarratePromotionsFailing"] and "[1h]" in by_name["NarratePromotionsFailing"]


def pod_targets(job: dict) -> set[str]:
    """The Deployments whose pods a `role: pod` job keeps, by its keep rules applied to their labels and annotations."""
    assert [sd["role"] for sd in job["kubernetes_sd_configs"]] == ["pod"]
    kept = set()
    for name, d in deployments().items():
        meta = d["spec"]["template"]["metadata"]
        labels = {
            f"__meta_kubernetes_pod_label_{re.sub(r'[^a-zA-Z0-9_]', '_', k)}": v for k, v in meta["labels"].items()
        }
        labels |= {
            f"__meta_kubernetes_pod_annotation_{re.sub(r'[^a-zA-Z0-9_]', '_', k)}": v
            for k, v in meta.get("annotations", {}).items()
        }
        keep = all(
            re.fullmatch(
                rule["regex"], rule.get("separator", ";").join(labels.get(s, "") for s in rule["source_labels"])
            )
            for rule in job["relabel_configs"]
            if rule.get("action") == "keep"
        )
        if keep:
            kept.add(name)
    return kept


def test_the_scrape_jobs_find_the_pods_the_alerts_expect() -> None:
    jobs = scrape_jobs()
    assert set(jobs) == {"narrate-worker", "narrate-cluster"}
    assert pod_targets(jobs["narrate-worker"]) == set(worker_deployments())
    [cluster] = pod_targets(jobs["narrate-cluster"])
    assert deployments()[cluster]["spec"]["template"]["spec"]["containers"][0]["command"][:3] == [
        "narrate",
        "metrics",
        "serve",
    ]
    used = {m["job"] for rule in rules() for name, m in selectors(rule["expr"])[0] if name == "up"}
    assert used == set(jobs), "an absent() alert for each job"


def test_every_pod_prometheus_scrapes_listens_where_prometheus_reaches_it() -> None:
    for job in scrape_jobs().values():
        for name in pod_targets(job):
            [container] = containers(deployments()[name])
            assert metrics_address(container) != "127.0.0.1", f"{name}: scraped, but listening on loopback only"
