"""deploy/grafana: a Grafana dashboard whose panels do not overlap, with the panels operations needs, every query
parsing as PromQL and naming only metrics (and labels) the code defines, and every metric shown."""

from __future__ import annotations

import json
import re
from functools import cache

import pytest

from tests.support.deploy_files import DEPLOY
from tests.support.metric_queries import check_names_only_real_metrics, defined_metrics, selectors

DASHBOARD = DEPLOY / "grafana" / "narrate.json"


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
