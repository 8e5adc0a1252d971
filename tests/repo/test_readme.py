"""The README is the contract users read: it must match the code."""

from pathlib import Path

from typer.main import get_command

from producer.cli.main import app
from worker.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make demo", "make test"]


def test_every_setting_is_documented() -> None:
    for name in Settings.model_fields:
        variable = "FISH_API_KEY" if name == "fish_api_key" else f"NARRATE_{name.upper()}"
        assert f"`{variable}`" in README, f"{variable} is missing from the configuration table"


def test_every_cli_command_is_documented() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name, command in commands.items():
        assert f"narrate {name}" in README, f"`narrate {name}` is not documented"
        for sub in getattr(command, "commands", {}):
            assert f"narrate {name} {sub}" in README, f"`narrate {name} {sub}` is not documented"


ROOT = Path(__file__).resolve().parents[2]


def test_every_path_the_readme_names_exists() -> None:
    import re

    named = {
        m.rstrip(".,:;)") for m in re.findall(r"(?<![\w/.:-])((?:worker|producer|tests|deploy)/[\w./*-]*)", README)
    }
    missing = sorted(p for p in named if "*" not in p and not (ROOT / p).exists())
    assert missing == []


def test_the_layout_block_matches_the_tree() -> None:
    block = README.split("## Layout", 1)[1].split("```", 2)[1]
    top, missing = "", []
    for line in filter(str.strip, block.splitlines()):
        name = line.split()[0]
        if not line.startswith(" "):
            top = name
        if not (ROOT / (name if name == top else top + name)).exists():
            missing.append(name if name == top else top + name)
    assert top and missing == []


def test_every_module_the_readme_names_imports() -> None:
    import importlib
    import re

    # the table of moved names keeps the former paths in its last column: those are gone on purpose
    current = re.sub(r"^(\|[^|\n]*\|[^|\n]*\|)[^|\n]*\|$", r"\1", README, flags=re.M)
    for dotted in set(re.findall(r"`((?:worker|producer)(?:\.\w+)+)", current)):
        module, _, attribute = dotted.rpartition(".")
        try:
            importlib.import_module(dotted)
        except ModuleNotFoundError:
            assert hasattr(importlib.import_module(module), attribute), (
                f"{dotted} is named in the README but does not exist"
            )
