"""deploy/ checked as far as possible without a Docker engine: the image, and what every deploy file shares.

Compose: test_deploy_compose.py. Kubernetes: test_deploy_k8s.py and test_deploy_k8s_workers.py. Dashboard:
test_deploy_grafana.py. Alert rules and scrape configs: test_deploy_prometheus.py. What they read:
tests/support/deploy_files.py and tests/support/k8s_manifests.py.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from tests.support.deploy_files import DEPLOY, ROOT, interpolate, narrate_services, probe_argv, tool
from tests.support.k8s_manifests import configmap_data, containers, k8s_documents

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


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


# --- the probes, run as the manifests and compose run them -----------------------------------------------------


def probe_runs() -> list[tuple[str, list[str], dict[str, str]]]:
    """(where, command, the container's environment) of every exec probe and health check that runs
    worker.observability.probe."""
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
    folder (or a folder in /tmp) every time, thousands a day on a memory-backed emptyDir. The runs go side by side
    (each with folders of its own): each is mostly Python starting up."""
    runs = probe_runs()
    assert len(runs) >= 8
    seen = set()
    started = []
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
        process = subprocess.Popen(
            argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        started.append((where, command, argv, folders, process))
    for where, command, argv, folders, process in started:
        stdout, stderr = process.communicate(timeout=120)
        if argv[-1] == "ready":  # the broker is a closed port: the probe got as far as the round trip, and said so
            assert process.returncode == 1 and stderr.startswith("ready: ConnectionError"), f"{where}: {stderr}"
        else:
            assert process.returncode == 0 and "heartbeat" in stdout, f"{where}: {stdout}{stderr}"
        left = sorted(str(p.relative_to(tmp_path)) for name in ("multiproc", "tmp") for p in folders[name].rglob("*"))
        assert left == [], f"{where}: {command} left {left}"
