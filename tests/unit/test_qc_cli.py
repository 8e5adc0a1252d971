"""`--qc` and `--qc-retakes` at the command line, no stack: refused when wrong, handed on when right, and what
`narrate estimate` adds for hearing and retakes, checked against figures worked out here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from producer.cli import say as say_cli
from producer.cli.main import app
from producer.dev import run as dev_run
from producer.readers.quality import QcChoice
from worker.errors import BadInput
from worker.settings import get_settings

runner = CliRunner()
SENTENCE = "The wind and the sun argued which was the stronger of the two."  # 62 ASCII characters


@pytest.fixture(autouse=True)
def fresh_settings(monkeypatch: pytest.MonkeyPatch):
    for name in ("NARRATE_QC", "NARRATE_QC_RETAKES"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """Two chapters of ten sentences each: 1,258 bytes and characters, one chunk each."""
    path = tmp_path / "fable.md"
    chapter = " ".join([SENTENCE] * 10)
    path.write_text(f"# Fable\n\n## One\n\n{chapter}\n\n## Two\n\n{chapter}\n", encoding="utf-8")
    return path


def invoke(args: list[str], env: dict[str, str] | None = None):
    get_settings.cache_clear()  # the environment of this call, not of the one before
    return runner.invoke(app, args, env=env)


def estimate(*args: str, env: dict[str, str] | None = None) -> dict:
    result = invoke(["estimate", *args, "--json"], env=env)
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    return row


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("submit", ["a.txt", "--out", "s3://b/p"]),
        ("book", ["a.md", "--out", "s3://b/p"]),
        ("estimate", ["a.md"]),
        ("say", ["Hello.", "--out", "s3://b/p"]),
        ("dev", []),
    ],
)
def test_every_command_refuses_an_unknown_mode_and_too_many_retakes(command: str, args: list[str]) -> None:
    wrong = runner.invoke(app, [command, *args, "--qc", "loud"])
    assert wrong.exit_code == 2 and "Invalid value for '--qc'" in wrong.output and "'retake'" in wrong.output
    many = runner.invoke(app, [command, *args, "--qc", "retake", "--qc-retakes", "6"])
    assert many.exit_code == 2 and "Invalid value for '--qc-retakes'" in many.output


def test_the_estimate_adds_hearing_and_expected_retakes_to_the_total(book: Path) -> None:
    prices = {
        "NARRATE_PRICE_PER_MILLION_BYTES": "15",
        "NARRATE_ASR_PRICE_PER_HOUR": "36",  # a hundred times Fish's, so the figures show at four decimals
        "NARRATE_QC_EXPECTED_RETAKE_SHARE": "0.2",
    }
    characters = 2 * (10 * len(SENTENCE) + 9)  # 1,258: ASCII, so as many bytes
    speaking = characters / 1e6 * 15  # $0.0189
    hearing = characters / 15 * 36 / 3600  # 83.9 s of audio at 15 characters a second: $0.8387
    retaking = 0.2 * (speaking + hearing)  # $0.1715

    row = estimate(str(book), "--qc", "retake", env=prices)
    assert row["text_bytes"] == characters and row["uncached_cost_usd"] == pytest.approx(speaking, abs=1e-4)
    assert row["qc"] == "retake"
    assert row["asr_cost_usd"] == pytest.approx(hearing, abs=1e-4)
    assert row["expected_retake_cost_usd"] == pytest.approx(retaking, abs=1e-4)
    assert row["total_cost_usd"] == pytest.approx(speaking + hearing + retaking, abs=2e-4)

    report = estimate(str(book), "--qc", "report", env=prices)
    assert report["asr_cost_usd"] == row["asr_cost_usd"] and report["expected_retake_cost_usd"] == 0
    off = estimate(str(book), "--qc", "off", env=prices)
    assert off["asr_cost_usd"] == off["expected_retake_cost_usd"] == 0
    assert off["total_cost_usd"] == off["uncached_cost_usd"]

    table = invoke(["estimate", str(book), "--qc", "retake"], env={**prices, "COLUMNS": "120"})
    assert table.exit_code == 0, table.output
    assert "proof-listening" in table.output
    assert f"${hearing:.2f}" in table.output and f"${retaking:.2f}" in table.output  # $0.84, $0.17
    assert f"${speaking + hearing + retaking:.2f}" in table.output  # $1.03
    assert "NARRATE_ASR_PRICE_PER_HOUR" in table.output


def test_the_mode_is_the_flag_else_narrate_qc_else_the_presets(book: Path) -> None:
    assert estimate(str(book))["qc"] == "report", "a standard book is heard and reported"
    assert estimate(str(book), "--preset", "acx")["qc"] == "retake", "a store submission is taken again"
    assert estimate(str(book), "--preset", "acx", env={"NARRATE_QC": "off"})["qc"] == "off"
    assert estimate(str(book), "--qc", "report", env={"NARRATE_QC": "off"})["qc"] == "report"
    no_retakes = estimate(str(book), "--preset", "acx", "--qc-retakes", "0")
    assert no_retakes["qc"] == "retake" and no_retakes["expected_retake_cost_usd"] == 0


def test_say_hands_its_choice_to_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[QcChoice] = []

    def submit_line(*args: object, qc: QcChoice, **kwargs: object) -> None:
        asked.append(qc)
        raise BadInput("stopped here")

    monkeypatch.setattr(say_cli, "_submit_line", submit_line)
    result = runner.invoke(app, ["say", "Hello.", "--out", "s3://b/p", "--qc", "retake", "--qc-retakes", "3"])
    assert result.exit_code == 2 and "stopped here" in result.output
    runner.invoke(app, ["say", "Hello.", "--out", "s3://b/p"])
    assert asked == [QcChoice(mode="retake", retakes=3), QcChoice()]


def test_dev_hands_its_choice_to_what_it_renders(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[QcChoice] = []

    def run_dev(**kwargs: object) -> int:
        asked.append(kwargs["qc"])  # type: ignore[arg-type]
        return 0

    monkeypatch.setattr(dev_run, "run_dev", run_dev)
    assert runner.invoke(app, ["dev", "--qc", "report"]).exit_code == 0
    assert runner.invoke(app, ["dev", "--qc-retakes", "1"]).exit_code == 0
    assert asked == [QcChoice(mode="report"), QcChoice(retakes=1)]
