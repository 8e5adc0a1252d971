"""deploy/ checked as far as possible without a Docker engine: the image, compose, and what every deploy file shares.

Kubernetes: test_deploy_k8s.py. Dashboard, alert rules and scrape configs: test_deploy_monitoring.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_VARS = {f"NARRATE_{name.upper()}" for name in Settings.model_fields} | {"FISH_API_KEY"}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def tool(name: str) -> str:
    found = shutil.which(name) or str(Path(sys.executable).parent / name)
    assert Path(found).exists(), f"{name} is a test dependency (pip install -e '.[test]')"
    return found


def is_real_variable(name: str) -> bool:
    """A setting of worker/settings.py, or a variable a library reads itself (boto3's AWS_*, prometheus-client's
    folder)."""
    return (
        name in SETTING_VARS or name == "PROMETHEUS_MULTIPROC_DIR" or re.fullmatch(r"AWS_[A-Z0-9_]+", name) is not None
    )


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines, as kustomize's configMapGenerator `envs` reads them (comments and blank lines skipped)."""
    pairs = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, sep, value = line.partition("=")
            assert sep and re.fullmatch(r"[A-Z_][A-Z0-9_]*", key), f"{path.name}: not KEY=VALUE: {line!r}"
            pairs[key] = value
    return pairs


def probe_argv(command: list[str]) -> tuple[list[str], list[str]]:
    """`env -u A -u B python -m worker.observability.probe ready`
    -> (["A", "B"], ["python", "-m", "worker.observability.probe", "ready"])."""
    unset, rest = [], list(command)
    if rest[:1] == ["env"]:
        rest.pop(0)
        while rest[:1] == ["-u"]:
            unset.append(rest[1])
            rest = rest[2:]
    return unset, rest


# --- every file -------------------------------------------------------------------------------------------------


def deploy_files(*suffixes: str) -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.is_file() and p.suffix in suffixes)


@pytest.mark.parametrize("path", deploy_files(".yaml", ".yml", ".json"), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_deploy_file_parses(path: Path) -> None:
    if path.suffix == ".json":
        assert isinstance(json.loads(path.read_text()), dict)
    else:
        documents = [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]
        assert documents and all(isinstance(doc, dict) for doc in documents)


def test_the_deploy_folder_holds_what_operations_needs() -> None:
    for name in (
        "Dockerfile",
        "docker-compose.yml",
        "k8s/kustomization.yaml",
        "grafana/narrate.json",
        "prometheus/alerts.yaml",
        "prometheus/scrape.yaml",
    ):
        assert (DEPLOY / name).is_file(), name


# --- the image --------------------------------------------------------------------------------------------------


def dockerfile_stages() -> list[list[str]]:
    """Instructions (continuation lines joined, comments dropped) of each stage, in order."""
    instructions: list[str] = []
    current = ""
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if not current and (not line.strip() or line.lstrip().startswith("#")):
            continue
        current += line.rstrip("\\").strip() + " " if line.endswith("\\") else line.strip()
        if not line.endswith("\\"):
            instructions.append(current.strip())
            current = ""
    stages: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([tool("hadolint"), str(DEPLOY / "Dockerfile")], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_copies_what_exists_and_runs_the_worker_app() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", text, flags=re.M):
        if "--from=" in line:
            continue  # from another stage, not from the repository
        for source in [word for word in line.split() if not word.startswith("--")][:-1]:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    assert re.search(r"^FROM python:3\.(1[1-9])", text, flags=re.M)
    assert '"celery", "-A", "worker", "worker"' in text
    assert re.search(r"^USER \d+$", text, flags=re.M), "the worker must not run as root"


def test_the_build_stage_makes_wheels_of_the_lock_and_of_narrate() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "a build stage and a runtime stage"
    build = " ".join(" ".join(stage) for stage in stages[:-1])
    assert re.search(r"pip wheel --require-hashes --no-deps -r requirements\.lock", build), (
        "every locked dependency, hash-checked"
    )
    assert re.search(r"pip wheel [^\n]*--no-index[^\n]*--no-deps[^\n]* \.(\s|$)", build), (
        "narrate's own wheel, from the wheels only"
    )


def test_the_runtime_stage_installs_only_those_wheels_with_no_compiler() -> None:
    runtime = dockerfile_stages()[-1]
    runs = [i for i in runtime if i.upper().startswith("RUN ")]
    installs = [part for run in runs for part in re.split(r"&&|;", run) if re.search(r"\bpip3? install\b", part)]
    assert len(installs) >= 2, "the locked dependencies, then narrate"
    for install in installs:
        assert "--no-index" in install and "--find-links" in install, f"not from the wheels alone: {install}"
        assert "--no-deps" in install, f"pip would resolve on its own: {install}"
    assert any("--require-hashes" in i and "-r requirements.lock" in i for i in installs), (
        "the lock, hash-checked again"
    )
    assert any(re.search(r"narrate-\S*\.whl", i) for i in installs), "narrate from its wheel"
    wheels_from_build = [i for i in runtime if re.search(r"--mount=type=bind,from=build\b|COPY --from=build\b", i)]
    assert wheels_from_build, "the wheels come from the build stage"
    compilers = r"\b(build-essential|gcc|g\+\+|clang|make|rustc|cargo|python3?-dev|libc6?-dev)\b"
    for run in runs:
        assert not re.search(r"\b(apt-get|apt|apk|yum|dnf) .*\b(install|add)\b.*" + compilers, run), (
            f"a compiler in the runtime: {run}"
        )
    assert not [i for i in runtime if re.match(r"COPY (worker|producer)\b", i)], (
        "the runtime installs the wheel, not the source tree"
    )


def test_the_runtime_stage_is_labelled_runs_as_10001_and_stops_warm() -> None:
    runtime = dockerfile_stages()[-1]
    labels = dict(
        re.findall(
            r'(org\.opencontainers\.image\.\w+)="([^"]*)"', " ".join(i for i in runtime if i.startswith("LABEL "))
        )
    )
    assert {"version", "source", "revision", "title", "licenses"} <= {key.rsplit(".", 1)[1] for key in labels}
    assert labels["org.opencontainers.image.licenses"] == PYPROJECT["project"]["license"] == "Apache-2.0"
    assert labels["org.opencontainers.image.title"] == PYPROJECT["project"]["name"]
    args = dict(re.findall(r"^ARG (\w+)(?:=(\S*))?$", "\n".join(runtime), flags=re.M))
    for key in ("version", "revision", "source"):
        variable = re.fullmatch(r"\$\{(\w+)\}", labels[f"org.opencontainers.image.{key}"])
        assert variable and variable[1] in args, f"{key}: set from a build argument"
    assert args["VERSION"] == PYPROJECT["project"]["version"], "the default version is the project's"
    assert "USER 10001" in runtime and "STOPSIGNAL SIGTERM" in runtime
    assert any(re.search(r"useradd .*--uid 10001", i) for i in runtime)


# --- compose ----------------------------------------------------------------------------------------------------


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def narrate_services() -> dict[str, dict]:
    """The services that run the project's image (built from deploy/Dockerfile)."""
    return {
        name: s
        for name, s in compose()["services"].items()
        if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


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


def interpolate(value: object) -> str:
    """Compose's `${NAME:-default}` with NAME unset, as on a fresh machine."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


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


def flag(command: list[str], *names: str) -> str:
    for i, word in enumerate(command):
        if word in names:
            return command[i + 1]
    raise AssertionError(f"no {names[0]} in {command}")


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


def assembly_time_limit() -> int:
    from worker.books.tasks import AssembleTask, ChapterTask

    return max(ChapterTask.time_limit, AssembleTask.time_limit)


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


# --- the probes, run as the manifests and compose run them -----------------------------------------------------


def probe_runs() -> list[tuple[str, list[str], dict[str, str]]]:
    """(where, command, the container's environment) of every exec probe and health check that runs
    worker.observability.probe."""
    from tests.repo.test_deploy_k8s import configmap_data, containers, k8s_documents

    runs = []
    for doc in k8s_documents():
        for container in containers(doc):
            env = dict(configmap_data()) if container.get("envFrom") else {}
            env |= {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
                command = container.get(kind, {}).get("exec", {}).get("command")
                if command:
                    runs.append((f"{doc['metadata']['name']} {kind}", command, env))
    for name, service in narrate_services().items():
        test = service["healthcheck"]["test"]
        if "worker.observability.probe" in test:
            runs.append(
                (f"compose {name}", test[1:], {k: interpolate(v) for k, v in service.get("environment", {}).items()})
            )
    return runs


def test_every_probe_command_runs_and_leaves_no_file_behind(tmp_path: Path) -> None:
    """Each run is a process of its own: with the metrics variables it would leave a counter file in the multiprocess
    folder (or a folder in /tmp) every time, thousands a day on a memory-backed emptyDir."""
    runs = probe_runs()
    assert len(runs) >= 8
    seen = set()
    for where, command, env in runs:
        key = (
            tuple(command),
            tuple(sorted(k for k in env if k in ("PROMETHEUS_MULTIPROC_DIR", "NARRATE_METRICS_PORT"))),
        )
        if key in seen:
            continue
        seen.add(key)
        folders = {name: tmp_path / str(len(seen)) / name for name in ("multiproc", "tmp", "beat")}
        for folder in folders.values():
            folder.mkdir(parents=True)
        (folders["beat"] / "heartbeat").touch()
        env = {k: v for k, v in env.items() if not k.startswith("AWS_")} | {
            "PATH": os.environ["PATH"],
            "TMPDIR": str(folders["tmp"]),
            "NARRATE_BROKER_URL": "redis://127.0.0.1:1/0",
        }
        if "PROMETHEUS_MULTIPROC_DIR" in env:
            env["PROMETHEUS_MULTIPROC_DIR"] = str(folders["multiproc"])
        if "NARRATE_HEARTBEAT_FILE" in env:
            env["NARRATE_HEARTBEAT_FILE"] = str(folders["beat"] / "heartbeat")
        _, argv = probe_argv(command)
        assert argv[:3] == ["python", "-m", "worker.observability.probe"], f"{where}: {command}"
        argv = [*command[: len(command) - len(argv)], sys.executable, *argv[1:]]
        result = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
        if argv[-1] == "ready":  # the broker is a closed port: the probe got as far as the round trip, and said so
            assert result.returncode == 1 and result.stderr.startswith("ready: ConnectionError"), (
                f"{where}: {result.stderr}"
            )
        else:
            assert result.returncode == 0 and "heartbeat" in result.stdout, f"{where}: {result.stdout}{result.stderr}"
        left = sorted(str(p.relative_to(tmp_path)) for name in ("multiproc", "tmp") for p in folders[name].rglob("*"))
        assert left == [], f"{where}: {command} left {left}"


def test_compose_metrics_listen_on_the_containers_own_addresses_on_purpose() -> None:
    """Unset, NARRATE_METRICS_HOST is loopback: a published port or another container could not reach /metrics."""
    for name, service in narrate_services().items():
        environment, command = service.get("environment", {}), service.get("command", [])
        if command[:3] == ["narrate", "metrics", "serve"]:
            assert flag(command, "--host") == "0.0.0.0", f"{name}: its published port reaches the container's interface"
        elif "NARRATE_METRICS_PORT" in environment:
            assert environment.get("NARRATE_METRICS_HOST") == "0.0.0.0", f"{name}: scraped from the compose network"
