"""deploy/ read for the repository checks: its folder, the settings' variable names, env files, probe commands, and
the compose services that run the project's image."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import yaml

from worker.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SETTING_VARS = {f"NARRATE_{name.upper()}" for name in Settings.model_fields} | {"FISH_API_KEY"}


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


def flag(command: list[str], *names: str) -> str:
    for i, word in enumerate(command):
        if word in names:
            return command[i + 1]
    raise AssertionError(f"no {names[0]} in {command}")


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def narrate_services() -> dict[str, dict]:
    """The services that run the project's image (built from deploy/Dockerfile)."""
    return {
        name: s
        for name, s in compose()["services"].items()
        if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
    }


def interpolate(value: object) -> str:
    """Compose's `${NAME:-default}` with NAME unset, as on a fresh machine."""
    return re.sub(r"\$\{\w+:-([^}]*)\}", r"\1", str(value))


def assembly_time_limit() -> int:
    from worker.books.tasks import AssembleTask, ChapterTask

    return max(ChapterTask.time_limit, AssembleTask.time_limit)
