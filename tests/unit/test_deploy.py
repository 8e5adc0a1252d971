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


def test_beats_run_two_replicas_behind_redbeat() -> None:
    from producer.pipelines.tasks import make_app as pipelines_app
    from worker.app import make_app

    compose = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    for app in ("worker", "producer.pipelines.tasks"):
        [beat] = [s for s in compose["services"].values() if s.get("command", [])[:4] == ["celery", "-A", app, "beat"]]
        assert beat["deploy"]["replicas"] == 2
    [_, beat] = yaml.safe_load_all((DEPLOY / "k8s" / "worker.yaml").read_text())
    assert beat["spec"]["replicas"] == 2
    for conf in (make_app(Settings(broker_url="redis://127.0.0.1:1/0")).conf, pipelines_app().conf):
        # one beat schedules at a time; a dead one's lock runs out in seconds, not RedBeat's default 25 minutes
        assert conf.beat_scheduler == "redbeat.RedBeatScheduler" and conf.redbeat_lock_timeout <= 60
        assert conf.redbeat_lock_timeout > 5 * conf.beat_max_loop_interval - 1


def test_the_compose_pipelines_file_is_valid() -> None:
    from producer.pipelines.config import read_pipelines

    assert [p.name for p in read_pipelines(DEPLOY / "pipelines.yaml").pipelines] == ["publisher-inbox"]


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


def test_pipeline_ticks_expire_rather_than_pile_up() -> None:
    from producer.pipelines.tasks import TICK_SECONDS, make_app

    tick = make_app().conf.beat_schedule["pipelines-tick"]
    assert tick["schedule"] == TICK_SECONDS and 0 < tick["options"]["expires"] <= 30
