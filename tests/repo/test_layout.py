"""The folders tell the architecture; these rules keep it so. Imports are read with `ast`, nothing is imported."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "producer")
SHARED_GROUND = {"worker.app", "worker.celery_base", "worker.settings", "worker.contract", "worker.keys", "worker.errors"}
CAPABILITIES = ("worker.jobs", "worker.voices", "worker.books")
ADAPTERS = ("worker.fish", "worker.storage", "worker.audio", "worker.infra")
MAX_LINES = 300


@cache
def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


@cache
def imports(module: str, *, top_level_only: bool = False) -> frozenset[str]:
    """Every module `module` imports (names under `from x import y` count as x.y when x.y is a module)."""
    tree = ast.parse(modules()[module].read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert not node.level, f"{module}: relative import; the project imports by absolute names only"
            source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names if f"{source}.{alias.name}" in modules())
    return frozenset(found)


def within(name: str, prefixes: tuple[str, ...] | set[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(rule) -> list[str]:
    return sorted(f"{module} imports {name}" for module in modules() for name in imports(module) if rule(module, name))


def test_the_walk_sees_the_packages() -> None:
    assert {
        "worker.app",
        "worker.jobs.tasks",
        "worker.fish.client",
        "producer.cli.main",
        "producer.submit.jobs",
    } <= set(modules())
    assert "worker.fish.client" in imports("worker.voices.speaker")


def test_worker_never_imports_producer() -> None:
    assert offenders(lambda m, n: m.startswith("worker") and within(n, ("producer",))) == []


def test_the_emulator_never_imports_what_it_stands_in_for() -> None:
    stood_in = ("worker.jobs", "worker.voices", "worker.books", "worker.fish", "fishaudio")
    assert offenders(lambda m, n: within(m, ("producer.dev.emulator",)) and within(n, stood_in)) == []


@pytest.mark.parametrize(
    ("library", "owners"),
    [
        ("fishaudio", ("worker.fish",)),
        ("boto3", ("worker.storage",)),
        ("botocore", ("worker.storage",)),
        ("av", ("worker.audio",)),
        ("celery", ("worker.app", "worker.policy", "producer.submit", "producer.pipelines.tasks")),
        ("kombu", ("worker.app", "producer.submit")),
        (
            "prometheus_client",
            ("worker.observability.metrics", "worker.observability.cluster_metrics", "producer.cli.metrics"),
        ),
    ],
)
def test_each_library_has_one_home(library: str, owners: tuple[str, ...]) -> None:
    def breaks(module: str, name: str) -> bool:
        task_module = module.startswith("worker.") and module.endswith(".tasks") and library == "celery"
        return within(name, (library,)) and not within(module, owners) and not task_module

    assert offenders(breaks) == []


def test_the_shared_ground_imports_no_capability_or_adapter() -> None:
    # It may reach Redis (worker.infra: the broker it is configured with), observe and use the helpers; nothing above.
    below = (
        *CAPABILITIES,
        "worker.fish",
        "worker.storage",
        "worker.audio",
        "worker.text",
        "worker.renders",
        "worker.webhooks",
        "worker.policy",
        "worker.runtime",
        "producer",
    )
    assert offenders(lambda m, n: m in SHARED_GROUND and within(n, below)) == []


def test_the_top_of_worker_holds_only_the_shared_ground() -> None:
    """Every other module lives in a folder that says what it is (infra, storage, observability, support, policy, …)."""
    top = {
        m
        for m in modules()
        if m.count(".") == 1 and m.startswith("worker.") and not (ROOT / m.replace(".", "/")).is_dir()
    }
    assert top - SHARED_GROUND == {"worker.runtime"}, (
        "worker.runtime builds the per-process clients until each capability builds its own"
    )


def test_adapters_know_nothing_of_jobs_voices_or_books() -> None:
    assert offenders(lambda m, n: within(m, ADAPTERS) and within(n, (*CAPABILITIES, "worker.runtime"))) == []


def test_no_import_cycles() -> None:
    # `from worker import metrics` inside worker.app names the package `worker`, which Python has begun importing
    # before any of its submodules: an edge from a module to a package above it is never a cycle, whatever the order.
    graph = {
        m: {n for n in imports(m, top_level_only=True) if n in modules() and n != m and not m.startswith(n + ".")}
        for m in modules()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 on the current path, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for name in sorted(graph[module]):
            # importing a.b.c runs a and a.b first: a package's __init__ importing its own submodule is no cycle
            if state.get(name) == 1 and not module.startswith(name + "."):
                cycles.append([*path[path.index(name) :], name])
            elif name not in state:
                visit(name, [*path, name])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert cycles == []


def test_modules_stay_small() -> None:
    large = {m: n for m, p in modules().items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert large == {}


def test_the_wire_contract_imports_without_an_app_or_an_environment() -> None:
    import subprocess
    import sys

    probe = "import sys, worker.contract; print(sorted(m for m in ('celery', 'worker.app', 'worker.settings') if m in sys.modules))"
    found = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert found.stdout.strip() == "[]", (
        "a producer that wants only the wire models builds no Celery app and reads no settings"
    )


def test_no_cycles_between_packages() -> None:
    """jobs/ and voices/ each importing the other is a cycle even when no single module closes it."""

    def package(module: str) -> str:
        return module if (ROOT / module.replace(".", "/")).is_dir() else module.rsplit(".", 1)[0]

    graph: dict[str, set[str]] = {}
    for module in modules():
        for name in imports(module, top_level_only=True):  # an import inside a function is taken when used, not at load
            if (
                name in modules()
                and package(name) != package(module)
                and not package(module).startswith(package(name) + ".")
            ):
                if not package(name).startswith(package(module) + "."):
                    graph.setdefault(package(module), set()).add(package(name))

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    cycles = sorted(f"{a} <-> {b}" for a in graph for b in graph[a] if a < b and reaches(b, a, {b}))
    assert cycles == []
