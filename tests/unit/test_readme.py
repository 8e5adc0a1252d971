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
    for name, field in Settings.model_fields.items():
        variable = "FISH_API_KEY" if name == "fish_api_key" else f"NARRATE_{name.upper()}"
        assert f"`{variable}`" in README, f"{variable} is missing from the configuration table"


def test_every_cli_command_is_documented() -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name, command in commands.items():
        assert f"narrate {name}" in README, f"`narrate {name}` is not documented"
        for sub in getattr(command, "commands", {}):
            assert f"narrate {name} {sub}" in README, f"`narrate {name} {sub}` is not documented"
