"""deploy/k8s read for the repository checks: the kustomize base's documents, the settings its ConfigMap gives the
pods, its Deployments, their containers and the queues their workers take."""

from __future__ import annotations

from functools import cache

import yaml

from tests.support.deploy_files import DEPLOY, assembly_time_limit, flag, read_env_file
from worker.app import ALL_QUEUES, ASSEMBLY_QUEUE
from worker.settings import Settings

K8S = DEPLOY / "k8s"


@cache
def kustomization() -> dict:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


@cache
def k8s_documents() -> tuple[dict, ...]:
    return tuple(
        doc for name in kustomization()["resources"] for doc in yaml.safe_load_all((K8S / name).read_text()) if doc
    )


@cache
def configmap_data() -> dict[str, str]:
    [generator] = [g for g in kustomization()["configMapGenerator"] if g["name"] == "narrate-settings"]
    data: dict[str, str] = {}
    for name in generator.get("envs", []):
        data |= read_env_file(K8S / name)
    return data


def effective_settings() -> Settings:
    """What the pods' settings are: the ConfigMap's values over the defaults, validated by worker/settings.py."""
    return Settings(
        **{
            key.removeprefix("NARRATE_").lower(): value
            for key, value in configmap_data().items()
            if key.startswith("NARRATE_")
        }
    )


def deployments() -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in k8s_documents() if doc["kind"] == "Deployment"}


def containers(doc: dict) -> list[dict]:
    if doc.get("kind") != "Deployment":
        return []
    return doc["spec"]["template"]["spec"]["containers"]


def worker_deployments() -> dict[str, dict]:
    """The Deployments that run `celery -A worker worker`."""
    return {
        name: d
        for name, d in deployments().items()
        if containers(d)[0]["command"][:4] == ["celery", "-A", "worker", "worker"]
    }


def queues_of(deployment: dict) -> list[str]:
    command = containers(deployment)[0]["command"]
    return flag(command, "--queues", "-Q").split(",") if {"--queues", "-Q"} & set(command) else list(ALL_QUEUES)


def scaled_objects() -> list[dict]:
    return [doc for doc in k8s_documents() if doc["kind"] == "ScaledObject"]


def hard_limit(queue: str) -> int:
    """The longest a task from this queue may run before Celery kills it, at the pods' settings."""
    if queue == ASSEMBLY_QUEUE:
        return assembly_time_limit()
    return effective_settings().task_time_limit


def container_port(container: dict, port: int | str) -> int:
    if isinstance(port, int):
        return port
    [number] = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    return number


def metrics_address(container: dict) -> str:
    """Where a container's /metrics listens, as its manifest states it: `status.podIP`, a literal, or the loopback
    default."""
    entries = [e for e in container.get("env", []) if e["name"] == "NARRATE_METRICS_HOST"]
    if not entries:
        return configmap_data().get("NARRATE_METRICS_HOST", Settings.model_fields["metrics_host"].default)
    [entry] = entries
    return entry.get("value") or entry["valueFrom"]["fieldRef"]["fieldPath"]
