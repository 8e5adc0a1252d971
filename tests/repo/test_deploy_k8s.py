"""deploy/k8s: the kustomize base, checked offline against the Kubernetes API schemas and against the code it runs.

Its workers (queues, grace periods, disks, probes, KEDA): test_deploy_k8s_workers.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from kubernetes_validate import utils as kubernetes_validate

from tests.support.deploy_files import flag, is_real_variable, probe_argv
from tests.support.k8s_manifests import (
    K8S,
    configmap_data,
    container_port,
    containers,
    deployments,
    effective_settings,
    k8s_documents,
    kustomization,
    metrics_address,
    queues_of,
    worker_deployments,
)
from worker.settings import Settings

# The oldest Kubernetes release still in common support, and the newest the bundled schemas know.
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())


SECRET = "narrate"


def generated_configmap() -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "narrate-settings"}, "data": configmap_data()}


# --- the kustomization -------------------------------------------------------------------------------------------


def test_the_kustomization_names_every_file_and_only_files_that_exist() -> None:
    k = kustomization()
    assert k["apiVersion"] == "kustomize.config.k8s.io/v1beta1" and k["kind"] == "Kustomization"
    named = list(k["resources"]) + [
        f for g in k.get("configMapGenerator", []) for f in g.get("envs", []) + g.get("files", [])
    ]
    named += list(k.get("configurations", []))
    for name in named:
        assert (K8S / name).is_file(), f"kustomization.yaml names {name}: no such file"
    there = {p.name for p in K8S.iterdir() if p.is_file()} - {"kustomization.yaml"}
    assert there == set(named), f"in deploy/k8s but not in the kustomization: {there - set(named)}"
    assert len(named) == len(set(named))
    text = (K8S / "kustomization.yaml").read_text()
    assert "Helm" in text and f"kubectl create secret generic {SECRET}" in text, (
        "why kustomize, and the Secret it expects"
    )


def test_the_images_are_the_project_image_with_its_tag_set_by_kustomize() -> None:
    [image] = kustomization()["images"]
    assert image["name"] == "narrate" and image["newTag"]
    for doc in k8s_documents():
        for container in containers(doc):
            assert container["image"] == image["name"], (
                f"{doc['metadata']['name']}: the tag comes from kustomization.yaml"
            )


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_validates_against_the_kubernetes_schemas(version: str) -> None:
    """Strict: a misspelt or misplaced field fails, not only a wrong type. KEDA's kinds have no schema here (below)."""
    checked = 0
    for doc in (*k8s_documents(), generated_configmap()):
        if doc["apiVersion"].startswith("keda.sh/"):
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(
                f"{doc['kind']}/{doc['metadata']['name']}: {'.'.join(map(str, error.path))}: {error.message}"
            ) from None
        checked += 1
    assert checked >= 7


def test_the_base_builds_with_kustomize_as_kubectl_applies_it() -> None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (the manifests are still checked one by one above)")
    result = subprocess.run([kubectl, "kustomize", str(K8S)], capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    [configmap] = [doc for doc in built if doc["kind"] == "ConfigMap"]
    assert configmap["metadata"]["name"].startswith("narrate-settings-"), (
        "named after its content, so a change rolls the pods"
    )
    assert configmap["data"] == configmap_data()
    for doc in built:
        if not doc["apiVersion"].startswith("keda.sh/"):
            kubernetes_validate.validate(doc, VERSIONS[-1], strict=True)
        for container in containers(doc):
            assert re.fullmatch(r"narrate:\S+", container["image"])
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            assert refs == [configmap["metadata"]["name"]]
    assert len(built) == len(k8s_documents()) + 1


# --- settings and secrets ---------------------------------------------------------------------------------------


def test_the_configmap_sets_real_and_valid_settings() -> None:
    data = configmap_data()
    assert all(is_real_variable(key) for key in data), f"not settings: {[k for k in data if not is_real_variable(k)]}"
    settings = effective_settings()  # raises on a value worker/settings.py would refuse
    assert settings.fish_concurrency in (5, 15, 50), "a Fish tier's cap"
    assert (
        settings.log_format == "json"
        and settings.metrics_port
        and "NARRATE_PRESET" in data
        and "NARRATE_PROMOTE_AFTER" in data
    )
    assert not {"FISH_API_KEY", "AWS_SECRET_ACCESS_KEY", "NARRATE_WEBHOOK_SECRET"} & set(data), (
        "secrets belong in the Secret"
    )
    limits = {"NARRATE_TASK_SOFT_TIME_LIMIT", "NARRATE_TASK_TIME_LIMIT", "NARRATE_VISIBILITY_TIMEOUT"}
    assert not limits & set(data), "the grace periods are sized for the default limits"


def test_every_variable_the_manifests_set_is_real() -> None:
    for doc in k8s_documents():
        for container in containers(doc):
            names = {e["name"] for e in container.get("env", [])}
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                names |= set(probe_argv(container.get(kind, {}).get("exec", {}).get("command", []))[0])
            unknown = {n for n in names if not is_real_variable(n)}
            assert not unknown, f"{doc['metadata']['name']}: not settings: {unknown}"
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            assert refs == ["narrate-settings"], f"{doc['metadata']['name']}: the settings come from the ConfigMap"


def env_entries(document: object) -> list[dict]:
    found = []
    if isinstance(document, dict):
        if isinstance(document.get("name"), str) and ("value" in document or "valueFrom" in document):
            found.append(document)
        for value in document.values():
            found += env_entries(value)
    elif isinstance(document, list):
        for item in document:
            found += env_entries(item)
    return found


def test_the_fish_key_comes_only_from_the_secret() -> None:
    entries = [e for doc in k8s_documents() for e in env_entries(doc)]
    fish = [e for e in entries if e["name"] == "FISH_API_KEY"]
    assert fish, "the render workers need the key"
    for entry in fish:
        assert "value" not in entry and entry["valueFrom"]["secretKeyRef"] == {"name": SECRET, "key": "FISH_API_KEY"}
    for entry in entries:
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        assert ref is None or ref["name"] == SECRET
        if re.search(r"KEY|SECRET|PASSWORD|TOKEN", entry["name"]) and entry["name"] != "AWS_DEFAULT_REGION":
            assert "value" not in entry, f"{entry['name']} as a literal"
    render = [d for d in worker_deployments().values() if "narrate" in queues_of(d)]
    assert render and all(any(e["name"] == "FISH_API_KEY" for e in containers(d)[0]["env"]) for d in render)


# --- every container --------------------------------------------------------------------------------------------


def test_no_probe_or_hook_asks_celery_inspect() -> None:
    for doc in k8s_documents():
        for container in containers(doc):
            for kind in ("startupProbe", "readinessProbe", "livenessProbe", "lifecycle"):
                assert "inspect" not in str(container.get(kind, "")), f"{doc['metadata']['name']} {kind}"


def effective_security(pod: dict, container: dict) -> dict:
    return pod.get("securityContext", {}) | container.get("securityContext", {})


def test_every_container_is_locked_down() -> None:
    for name, d in deployments().items():
        pod = d["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"]:
            security = effective_security(pod, container)
            assert security["runAsNonRoot"] is True and security["runAsUser"] == 10001, name
            assert security["readOnlyRootFilesystem"] is True and security["allowPrivilegeEscalation"] is False, name
            assert (
                security["capabilities"]["drop"] == ["ALL"] and security["seccompProfile"]["type"] == "RuntimeDefault"
            ), name
            mounts = {m["mountPath"]: volumes[m["name"]] for m in container.get("volumeMounts", [])}
            assert "emptyDir" in mounts["/tmp"], f"{name}: /tmp must be writable"
            folder = next(
                (e["value"] for e in container.get("env", []) if e["name"] == "PROMETHEUS_MULTIPROC_DIR"), None
            )
            assert folder is None or "emptyDir" in mounts[folder], f"{name}: the metrics folder must be writable"
            if name in worker_deployments():
                assert folder, f"{name}: every pool process counts into the folder"
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]) and "memory" in resources["limits"], name


# --- beat, metrics, services ------------------------------------------------------------------------------------


def test_the_cluster_metrics_run_once_behind_a_service() -> None:
    [metrics] = [
        d for d in deployments().values() if containers(d)[0]["command"][:3] == ["narrate", "metrics", "serve"]
    ]
    assert metrics["spec"]["replicas"] == 1, "one per cluster"
    [container] = containers(metrics)
    port = int(flag(container["command"], "--port"))
    assert (
        port
        == container_port(container, "metrics")
        == int(metrics["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"])
    )
    assert container["readinessProbe"]["exec"]["command"][-3:] == ["-m", "worker.observability.probe", "ready"]


def test_services_select_the_pods_they_name() -> None:
    services = [doc for doc in k8s_documents() if doc["kind"] == "Service"]
    assert len(services) == 2
    for service in services:
        selector = service["spec"]["selector"]
        chosen = [
            d for d in deployments().values() if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert chosen, f"{service['metadata']['name']} selects no pod"
        for d in chosen:
            for port in service["spec"]["ports"]:
                assert container_port(containers(d)[0], port["targetPort"]) == port["port"]
        if service["spec"].get("clusterIP") == "None":
            assert {d["metadata"]["name"] for d in chosen} == set(worker_deployments()), (
                "every worker's /metrics, nothing else"
            )


def test_deployment_selectors_match_their_pods() -> None:
    for name, d in deployments().items():
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items(), name
        assert labels["app.kubernetes.io/part-of"] == "narrate" and labels["app.kubernetes.io/name"] == name


def test_every_metrics_endpoint_states_the_pod_address_it_listens_on() -> None:
    cluster = [d for d in deployments().values() if containers(d)[0]["command"][:3] == ["narrate", "metrics", "serve"]]
    serving = [*worker_deployments().values(), *cluster]
    assert Settings.model_fields["metrics_host"].default == "127.0.0.1", "unset, metrics are loopback only"
    assert "NARRATE_METRICS_HOST" not in configmap_data(), "an address is each pod's own, not one for all"
    for d in serving:
        [container] = containers(d)
        assert "--host" not in container["command"], f"{d['metadata']['name']}: NARRATE_METRICS_HOST says where, once"
        assert metrics_address(container) in ("status.podIP", "0.0.0.0"), (
            f"{d['metadata']['name']}: unreachable on loopback"
        )
