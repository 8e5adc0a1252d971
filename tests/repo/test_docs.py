"""The manual (README.md and docs/) must match the code: settings, commands, layout, paths, links and imports."""

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = {
    path.relative_to(ROOT).as_posix(): path.read_text() for path in [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]
}
FENCE = re.compile(r"^```.*?^```", flags=re.M | re.S)


def prose(text: str) -> str:
    """A page without its fenced code blocks (a `#` comment in a code block is no heading)."""
    return FENCE.sub("", text)


def anchors(text: str) -> set[str]:
    """The anchors GitHub makes of a page's headings: lower case, punctuation dropped, spaces as hyphens."""
    headings = re.findall(r"^#{1,6} (.+)$", prose(text), flags=re.M)
    return {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-") for heading in headings}


def test_every_page_is_read() -> None:
    assert {"README.md", "docs/configuration.md", "docs/cli.md", "docs/development.md"} <= set(PAGES)


def test_every_setting_is_documented_in_the_configuration_page() -> None:
    from worker.settings import Settings

    page = PAGES["docs/configuration.md"]
    for name in Settings.model_fields:
        variable = "FISH_API_KEY" if name == "fish_api_key" else f"NARRATE_{name.upper()}"
        assert f"`{variable}`" in page, f"{variable} is missing from docs/configuration.md"


def test_every_variable_a_page_names_is_a_setting() -> None:
    from worker.settings import Settings

    known = {f"NARRATE_{name.upper()}" for name in Settings.model_fields}
    named = {(page, v) for page, text in PAGES.items() for v in re.findall(r"NARRATE_[A-Z0-9_]*[A-Z0-9]", text)}
    assert sorted((page, v) for page, v in named if v not in known) == [], "variables no setting reads"


def test_every_cli_command_is_documented_in_the_cli_page() -> None:
    from typer.main import get_command

    from producer.cli.main import app

    page = PAGES["docs/cli.md"]
    commands = get_command(app).commands  # type: ignore[attr-defined]
    assert commands
    for name, command in commands.items():
        assert f"`narrate {name}" in page, f"`narrate {name}` is not documented in docs/cli.md"
        for sub in getattr(command, "commands", {}):
            assert f"`narrate {name} {sub}" in page, f"`narrate {name} {sub}` is not documented in docs/cli.md"


def layout() -> list[str]:
    """The paths the layout block of docs/development.md lists, each nested under the line above it (2 spaces)."""
    section = PAGES["docs/development.md"].split("\n## Layout\n", 1)[1]
    block = section.split("```", 2)[1]
    paths: list[str] = []
    parents: list[str] = []
    for line in filter(str.strip, block.splitlines()):
        depth = (len(line) - len(line.lstrip(" "))) // 2
        assert depth <= len(parents), f"layout: {line.strip()!r} is indented deeper than the line above it"
        parents[depth:] = [line.split()[0]]
        paths.append("".join(parents))
    return paths


def test_every_path_the_layout_lists_exists() -> None:
    listed = layout()
    assert "worker/" in listed
    assert [path for path in listed if not (ROOT / path).exists()] == []


def test_every_package_on_disk_is_in_the_layout() -> None:
    listed = {path.rstrip("/") for path in layout()}
    packages = {
        init.parent.relative_to(ROOT).as_posix()
        for top in ("worker", "producer", "tests")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert "worker/jobs" in packages
    assert sorted(packages - listed) == [], "packages missing from the layout block in docs/development.md"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_path_a_page_names_exists(page: str) -> None:
    named = {
        match.rstrip(".,:;)")
        for match in re.findall(r"(?<![\w/.:<>-])((?:worker|producer|tests|deploy|docs)/[\w./*-]*)", PAGES[page])
    }
    missing = sorted(path for path in named if "*" not in path and not (ROOT / path).exists())
    assert missing == [], f"{page} names paths that do not exist"


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_relative_link_resolves(page: str) -> None:
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(PAGES[page])):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:: not ours to check
        path, _, anchor = target.partition("#")
        file = (ROOT / page).parent / path if path else ROOT / page
        if not file.is_file():
            broken.append(f"{target}: no such file")
        elif anchor and anchor not in anchors(file.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT).as_posix()}")
    assert broken == [], f"{page} has broken links"


def runnable(module: str) -> bool:
    """What `python -m module` runs exists (a package needs its __main__), found without running it."""
    spec = importlib.util.find_spec(module)
    if spec is None:
        return False
    return spec.submodule_search_locations is None or importlib.util.find_spec(f"{module}.__main__") is not None


@pytest.mark.parametrize("page", sorted(PAGES))
def test_every_import_a_page_shows_works(page: str) -> None:
    text = PAGES[page]
    for module, names in re.findall(r"from ((?:worker|producer|tests)[\w.]*) import ([\w, ]+)", text):
        imported = importlib.import_module(module)
        for name in filter(None, (n.strip() for n in names.split(","))):
            assert hasattr(imported, name), f"{page}: `from {module} import {name}` fails"
    for module in re.findall(r"python -m ((?:worker|producer|tests)[\w.]*)", text):
        assert runnable(module), f"{page}: `python -m {module}` has nothing to run"
    for module in re.findall(r"celery -A ((?:worker|producer)[\w.]*)", text):
        assert importlib.util.find_spec(module), f"{page}: `celery -A {module}` names no module"
    for dotted in set(re.findall(r"`((?:worker|producer)(?:\.\w+)+)", text)):
        module, _, attribute = dotted.rpartition(".")
        try:
            importlib.import_module(dotted)
        except ModuleNotFoundError:
            assert hasattr(importlib.import_module(module), attribute), f"{page}: {dotted} does not exist"


def test_every_public_name_imports_from_where_the_producers_page_says() -> None:
    rows = re.findall(r"^\| (.+) \| `((?:worker|producer)[\w.]*)` \|$", PAGES["docs/producers.md"], flags=re.M)
    assert len(rows) >= 5, "the table of public names is gone from docs/producers.md"
    for names, module in rows:
        imported = importlib.import_module(module)
        for name in re.findall(r"`(\w+)`", names):
            assert hasattr(imported, name), f"docs/producers.md: `from {module} import {name}` fails"


@pytest.mark.parametrize("page", sorted(p for p in PAGES if p.startswith("docs/")))
def test_a_long_page_opens_with_its_contents(page: str) -> None:
    text = PAGES[page]
    if len(text.splitlines()) < 150:
        return
    own = re.findall(r"^\s*- \[[^]]+\]\(#([^)]+)\)", text, flags=re.M)
    assert len(own) >= 3, f"{page} is long: it should open with a table of contents"
