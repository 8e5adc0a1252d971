"""deploy/docker-compose.yml: a valid compose file that runs the whole cluster with real settings, read-only
containers checked by the probes, durable Redis, two beats, and grace periods that cover the hard time limits."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.support.deploy_files import (
    DEPLOY,
    SETTING_VARS,
    assembly_time_limit,
    compose,
    flag,
    interpolate,
    is_real_variable,
    narrate_services,
    probe_argv,
    tool,
)
from worker.settings import Settings


def test_compose_file_is_valid_compose() -> None:
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(DEPLOY / "docker-compose.yml")],
        capture_output=True,
        text=True,
    )
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


def test_compose_sets_only_real_settings() -> None:
    names = set().union(*(env_names(doc) for doc in yaml.safe_load_all((DEPLOY / "docker-compose.yml").read_text())))
    assert names, "expected some settings"
    assert names <= SETTING_VARS, f"unknown settings: {names - SETTING_VARS}"
    for name, service in narrate_services().items():
        environment = {k: interpolate(v) for k, v in service.get("environment", {}).items()}
        unknown = {v for v in environment if not is_real_variable(v)}
        assert not unknown, f"{name}: not a setting: {unknown}"
        if name != "emulator":
            assert environment.get("NARRATE_LOG_FORMAT") == "json", f"{name}: log lines for a log pipeline"
            Settings(
                **{k.removeprefix("NARRATE_").lower(): v for k, v in environment.items() if k.startswith("NARRATE_")}
            )


def test_compose_runs_the_whole_cluster() -> None:
    from worker.app import ALL_QUEUES

    services = compose()["services"]
    assert {"redis", "s3", "emulator", "beat", "metrics"} <= set(services)
    assert services["metrics"]["command"][:3] == ["narrate", "metrics", "serve"]
    consumed = [
        queue
        for s in services.values()
        if s.get("command", [])[:4] == ["celery", "-A", "worker", "worker"]
        for queue in flag(s["command"], "--queues", "-Q").split(",")
    ]
    assert sorted(consumed) == sorted(ALL_QUEUES), "each queue has exactly one kind of worker"


def test_compose_containers_are_read_only_and_checked_by_the_probes() -> None:
    for name, service in narrate_services().items():
        assert service.get("read_only") is True, f"{name}: the root filesystem is read-only"
        assert "/tmp" in service.get("tmpfs", []), f"{name}: /tmp on a tmpfs"
        folder = service.get("environment", {}).get("PROMETHEUS_MULTIPROC_DIR")
        assert folder is None or folder in service["tmpfs"], f"{name}: the metrics folder must be writable"
        test = service["healthcheck"]["test"]
        assert test[0] == "CMD", name
        if name == "emulator":
            continue  # the development tool is checked on its own health route
        unset, argv = probe_argv(test[1:])
        assert argv[:3] == ["python", "-m", "worker.observability.probe"], f"{name}: {test}"
        assert {"PROMETHEUS_MULTIPROC_DIR", "NARRATE_METRICS_PORT"} <= set(unset), (
            f"{name}: the check runs without the metrics"
        )
        is_worker = service["command"][:4] == ["celery", "-A", "worker", "worker"]
        assert argv[3] == ("live" if is_worker else "ready"), name
        if is_worker:
            assert service["environment"].get("NARRATE_HEARTBEAT_FILE", "").startswith("/tmp/"), (
                f"{name}: live reads the heartbeat file"
            )
        assert not any("inspect" in word for word in test), "never `celery inspect ping`"


def test_redis_is_durable_and_never_evicts() -> None:
    conf = (DEPLOY / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, flags=re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, flags=re.M)


def test_beats_run_two_replicas_behind_redbeat() -> None:
    from producer.pipelines.tasks import make_app as pipelines_app
    from worker.app import make_app

    for app in ("worker", "producer.pipelines.tasks"):
        [beat] = [
            s for s in compose()["services"].values() if s.get("command", [])[:4] == ["celery", "-A", app, "beat"]
        ]
        assert beat["deploy"]["replicas"] == 2
    beat = yaml.safe_load((DEPLOY / "k8s" / "beat.yaml").read_text())
    assert beat["spec"]["replicas"] == 2
    assert beat["spec"]["template"]["spec"]["containers"][0]["command"][:4] == ["celery", "-A", "worker", "beat"]
    for conf in (make_app(Settings(broker_url="redis://127.0.0.1:1/0")).conf, pipelines_app().conf):
        # one beat schedules at a time; a dead one's lock runs out in seconds, not RedBeat's default 25 minutes
        assert conf.beat_scheduler == "redbeat.RedBeatScheduler" and conf.redbeat_lock_timeout <= 60
        assert conf.redbeat_lock_timeout > 5 * conf.beat_max_loop_interval - 1


def test_the_compose_pipelines_file_is_valid() -> None:
    from producer.pipelines.config import read_pipelines

    assert [p.name for p in read_pipelines(DEPLOY / "pipelines.yaml").pipelines] == ["publisher-inbox"]


def test_compose_grace_periods_cover_the_hard_time_limits() -> None:
    services = compose()["services"]
    for name, limit in (
        ("worker", Settings.model_fields["task_time_limit"].default),
        ("assembly", assembly_time_limit()),
    ):
        grace = re.fullmatch(r"(\d+)s", services[name]["stop_grace_period"])
        assert grace and int(grace[1]) >= limit, f"{name}: {services[name]['stop_grace_period']} < {limit} s"
        limits = {"NARRATE_TASK_SOFT_TIME_LIMIT", "NARRATE_TASK_TIME_LIMIT", "NARRATE_VISIBILITY_TIMEOUT"}
        assert not limits & env_names(services[name]), "the defaults are what it covers"
    assert assembly_time_limit() == int(0.9 * Settings.model_fields["visibility_timeout"].default)


def test_pipeline_ticks_expire_rather_than_pile_up() -> None:
    from producer.pipelines.tasks import TICK_SECONDS, make_app

    tick = make_app().conf.beat_schedule["pipelines-tick"]
    assert tick["schedule"] == TICK_SECONDS and 0 < tick["options"]["expires"] <= 30


def test_compose_metrics_listen_on_the_containers_own_addresses_on_purpose() -> None:
    """Unset, NARRATE_METRICS_HOST is loopback: a published port or another container could not reach /metrics."""
    for name, service in narrate_services().items():
        environment, command = service.get("environment", {}), service.get("command", [])
        if command[:3] == ["narrate", "metrics", "serve"]:
            assert flag(command, "--host") == "0.0.0.0", f"{name}: its published port reaches the container's interface"
        elif "NARRATE_METRICS_PORT" in environment:
            assert environment.get("NARRATE_METRICS_HOST") == "0.0.0.0", f"{name}: scraped from the compose network"
