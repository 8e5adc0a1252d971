"""deploy/prometheus: alert rules with what Prometheus and a person need, expressions that name only metrics (and
labels) the code defines, and scrape jobs that find the pods the alerts expect, where those pods listen.

No promtool here (none is published on PyPI): the PromQL parser stands in for its syntax check, and the
structural checks below for the rest of `promtool check rules`.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.support.deploy_files import DEPLOY, ROOT
from tests.support.k8s_manifests import containers, deployments, metrics_address, worker_deployments
from tests.support.metric_queries import check_names_only_real_metrics, scrape_jobs, selectors

ALERTS = DEPLOY / "prometheus" / "alerts.yaml"


# --- the alert rules --------------------------------------------------------------------------------------------


def rules() -> list[dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    assert groups and all(g["name"] and g["rules"] for g in groups)
    return [rule for group in groups for rule in group["rules"]]


def page_anchors(page: str) -> set[str]:
    """The anchors of a Markdown page's headings, as GitHub makes them."""
    headings = re.findall(r"^#{1,6} (.+)$", (ROOT / page).read_text(), flags=re.M)
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
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"}, rule["alert"]
        assert re.fullmatch(r"[A-Z][A-Za-z0-9]+", rule["alert"])
        assert re.fullmatch(r"(\d+[smhd])+", rule["for"]), f"{rule['alert']}: for {rule['for']!r}"
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        page, _, anchor = rule["annotations"]["runbook_url"].partition("#")
        assert page.endswith(".md") and (ROOT / page).is_file(), f"{rule['alert']}: no page {page}"
        assert anchor in page_anchors(page), f"{rule['alert']}: no section #{anchor} in {page}"
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


# --- the scrape configs -----------------------------------------------------------------------------------------


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
