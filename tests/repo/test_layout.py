"""The folders tell the architecture; these rules keep it so. Imports are read with `ast`, nothing is imported."""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Mapping
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("worker", "producer")
MAX_LINES = 300

# What each folder and each file at the top of worker/ is. A folder or a top module added later belongs to none of
# these until it is placed here (a test says so); the rules below then cover it by its folder.
SHARED_GROUND = (
    "worker.app",
    "worker.celery_base",
    "worker.contract",
    "worker.errors",
    "worker.keys",
    "worker.settings",
)
RUNTIME = "worker.runtime"  # the clients a worker process shares, made after the fork; each capability adds its own
# Capabilities, lowest first: each may reach (import, directly or through the files at the top of worker/) only
# those before it. renders/ holds what every render shares; policy/ the failure policy every task runs under.
LAYERS = (
    "worker.renders",
    "worker.policy",
    "worker.voices",
    "worker.takes",
    "worker.jobs",
    "worker.webhooks",
    "worker.books",
)
ADAPTERS = ("worker.fish", "worker.storage", "worker.audio", "worker.infra")  # Fish, S3, codecs, Redis
HELPERS = ("worker.text", "worker.hearing", "worker.observability", "worker.support")


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


def within(name: str, prefixes: Collection[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def offenders(rule: Callable[[str, str], bool]) -> list[str]:
    return sorted(f"{module} imports {name}" for module in modules() for name in imports(module) if rule(module, name))


def folder(module: str) -> str:
    """The folder (or the file) directly under worker/ that holds `module`: worker.jobs.tasks -> worker.jobs."""
    return ".".join(module.split(".")[:2])


def top_of_worker() -> set[str]:
    """The files directly under worker/ (not its folders), and worker/__init__.py itself."""
    packages = {m for m, path in modules().items() if path.name == "__init__.py"}
    return {"worker"} | {m for m in modules() if m.startswith("worker.") and folder(m) == m and m not in packages}


def import_map() -> dict[str, frozenset[str]]:
    return {m: imports(m) for m in modules()}


def reached(graph: Mapping[str, Collection[str]], module: str, *, top: Collection[str]) -> dict[str, list[str]]:
    """What `module` imports, each with the path that reaches it: its own imports, and through any of them that is
    a file at the top of worker/, what that file imports, transitively (what a shared file imports, its importers
    reach too)."""
    paths: dict[str, list[str]] = {}
    queue = [[module]]
    while queue:
        path = queue.pop(0)
        for name in sorted(graph.get(path[-1], ())):
            if name not in paths and name != module:
                paths[name] = [*path, name]
                if name in top:
                    queue.append(paths[name])
    return paths


def layer_breaches(graph: Mapping[str, Collection[str]], *, top: Collection[str]) -> list[str]:
    """Every path by which a capability reaches one after it in LAYERS."""
    breaches = []
    for module in sorted(graph):
        if folder(module) not in LAYERS:
            continue
        for name, path in reached(graph, module, top=top).items():
            if folder(name) in LAYERS and LAYERS.index(folder(name)) > LAYERS.index(folder(module)):
                mine, theirs = folder(module).removeprefix("worker."), folder(name).removeprefix("worker.")
                breaches.append(f"{' -> '.join(path)} ({mine} may not reach {theirs})")
    return breaches


def reaching(owners: Collection[str], forbidden: Collection[str]) -> list[str]:
    """The paths by which a module in `owners` reaches one in `forbidden`, through the top of worker/ too."""
    graph, top = import_map(), top_of_worker()
    return sorted(
        " -> ".join(path)
        for module in graph
        if within(module, owners)
        for name, path in reached(graph, module, top=top).items()
        if within(name, forbidden)
    )


def test_the_walk_sees_the_packages() -> None:
    assert {
        "worker.app",
        "worker.jobs.tasks",
        "worker.fish.client",
        "producer.cli.main",
        "producer.submit.jobs",
    } <= set(modules())
    assert "worker.fish.client" in imports("worker.voices.speaker")


def test_every_folder_of_worker_is_placed_in_one_kind() -> None:
    folders = {m for m in modules() if m.startswith("worker.") and folder(m) == m} - top_of_worker()
    placed = [*SHARED_GROUND, *LAYERS, *ADAPTERS, *HELPERS]
    assert folders <= set(placed), "a folder of worker/ that no rule places"
    assert len(placed) == len(set(placed)), "a folder placed twice"


def test_the_top_of_worker_holds_only_the_shared_ground_and_the_runtime() -> None:
    """Every other module lives in a folder that says what it is (infra, storage, observability, support, policy, …)."""
    assert top_of_worker() - {"worker"} == set(SHARED_GROUND) - {"worker.contract"} | {RUNTIME}


def test_worker_never_imports_producer() -> None:
    assert offenders(lambda m, n: m.startswith("worker") and within(n, ("producer",))) == []


def test_the_emulator_never_imports_what_it_stands_in_for() -> None:
    stood_in = ("worker.jobs", "worker.voices", "worker.books", "worker.fish", "worker.hearing", "fishaudio")
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


def test_the_shared_ground_reaches_no_capability_adapter_or_runtime() -> None:
    # It may reach Redis (worker.infra: the broker it is configured with), observe and use the helpers; nothing above.
    below = (*LAYERS, "worker.fish", "worker.storage", "worker.audio", "worker.text", RUNTIME, "producer")
    assert reaching(SHARED_GROUND, below) == []


def test_the_wire_contract_imports_only_itself() -> None:
    """What another service imports to enqueue: pydantic, and nothing of narrate outside the contract."""
    assert reaching(("worker.contract",), ("worker",)) == reaching(("worker.contract",), ("worker.contract",))


def test_the_runtime_holds_only_what_no_capability_owns() -> None:
    """It builds the clients every capability shares; the capabilities build their own contexts from them."""
    assert reaching((RUNTIME,), LAYERS[1:]) == []


def test_adapters_and_helpers_know_no_capability() -> None:
    assert reaching((*ADAPTERS, *HELPERS), (*LAYERS, RUNTIME)) == []


def test_capabilities_reach_only_those_below_them() -> None:
    """Directly or through a file at the top of worker/: a single job never reaches books/ by way of the runtime."""
    assert layer_breaches(import_map(), top=top_of_worker()) == []


def test_the_layer_check_finds_a_path_through_the_top_of_worker() -> None:
    # The shape worker/runtime.py had: every capability's context built at the top.
    old_runtime = {
        "worker.jobs.tasks": {"worker.runtime", "worker.jobs.records"},
        "worker.policy.task": {"worker.runtime"},
        "worker.runtime": {"worker.settings", "worker.books.render", "worker.jobs.records", "worker.renders.held"},
        "worker.books.render": {"worker.voices.speaker"},
        "worker.voices.speaker": {"worker.renders.held", "worker.jobs.validate"},
        "worker.settings": set(),
    }
    assert layer_breaches(old_runtime, top={"worker.runtime", "worker.settings"}) == [
        "worker.jobs.tasks -> worker.runtime -> worker.books.render (jobs may not reach books)",
        "worker.policy.task -> worker.runtime -> worker.books.render (policy may not reach books)",
        "worker.policy.task -> worker.runtime -> worker.jobs.records (policy may not reach jobs)",
        "worker.voices.speaker -> worker.jobs.validate (voices may not reach jobs)",
    ]


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
    """A producer that wants only the wire models and names builds no Celery app and reads no settings."""
    import pkgutil
    import subprocess
    import sys

    parts = sorted(f"worker.contract.{m.name}" for m in pkgutil.iter_modules([str(ROOT / "worker" / "contract")]))
    probe = (
        f"import sys, worker.contract, {', '.join(parts)}\n"
        "from worker.contract import ALL_QUEUES, PIPELINES_QUEUE, PIPELINES_RUN_TASK, PIPELINES_TICK_TASK, RenderJob\n"
        "loaded = ('celery', 'kombu', 'redis', 'worker.app', 'worker.settings', 'worker.celery_base')\n"
        "print(sorted(m for m in loaded if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PATH": "/usr/bin:/bin"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert parts and found.stdout.strip() == "[]"


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
