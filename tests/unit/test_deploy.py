"""deploy/ checked as far as possible without a Docker engine."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_VARS = {f"NARRATE_{name.upper()}" for name in Settings.model_fields} | {"FISH_API_KEY"}


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(found).exists(), f"{name} is a test dependency (pip install -e '.[test]')"
    return found


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([tool("hadolint"), str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_copies_what_exists_and_runs_the_worker_app() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        for source in line.split()[:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    assert re.search(r"^FROM python:3\.(1[1-9])", text, flags=re.M)
    assert '"celery", "-A", "worker", "worker"' in text
    assert re.search(r"^USER \d+$", text, flags=re.M), "the worker must not run as root"


def test_compose_file_is_valid_compose() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "docker-compose.yml")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def env_names(document: object) -> set[str]:
    found: set[str] = set()
    if isinstance(document, dict):
        for key, value in document.items():
            if isinstance(key, str) and key.startswith(("NARRATE_", "FISH_")):
                found.add(key)
            if key == "name" and isinstance(value, str) and value.startswith("NARRATE_"):
                found.add(value)
            found |= env_names(value)
    elif isinstance(document, list):
        for item in document:
            found |= env_names(item)
    return found


@pytest.mark.parametrize("path", ["docker-compose.yml", "k8s/worker.yaml"])
def test_deploy_files_use_only_real_settings(path: str) -> None:
    names = set().union(*(env_names(doc) for doc in yaml.safe_load_all((DEPLOY / path).read_text())))
    assert names, "expected some settings"
    assert names <= SETTING_VARS, f"unknown settings: {names - SETTING_VARS}"


def test_redis_is_durable_and_never_evicts() -> None:
    conf = (DEPLOY / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, flags=re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, flags=re.M)


def test_exactly_one_beat_is_deployed() -> None:
    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    beats = [s for s in compose["services"].values() if s.get("command", [])[:4] == ["celery", "-A", "worker", "beat"]]
    assert len(beats) == 1 and "replicas" not in beats[0].get("deploy", {})
    [_, beat] = yaml.safe_load_all((DEPLOY / "k8s" / "worker.yaml").read_text())
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"


def test_compose_grace_period_covers_a_render() -> None:
    worker = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())["services"]["worker"]
    grace = re.fullmatch(r"(\d+)s", worker["stop_grace_period"])
    assert grace and int(grace[1]) >= Settings.model_fields["task_time_limit"].default
    assert not {"NARRATE_TASK_SOFT_TIME_LIMIT", "NARRATE_TASK_TIME_LIMIT"} & env_names(worker), "the defaults are what it covers"


def test_kubernetes_grace_period_covers_a_render() -> None:
    deployment = next(yaml.safe_load_all((DEPLOY / "k8s" / "worker.yaml").read_text()))
    spec = deployment["spec"]["template"]["spec"]
    assert spec["terminationGracePeriodSeconds"] >= Settings.model_fields["task_soft_time_limit"].default
    [container] = spec["containers"]
    assert container["command"][:4] == ["celery", "-A", "worker", "worker"]
    assert container["securityContext"]["runAsNonRoot"] is True
