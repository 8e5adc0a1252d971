"""Proof-listening as the producer asks for it: `qc:` read from batch files and pipelines, choices layered and
resolved against NARRATE_QC, NARRATE_QC_RETAKES and the preset, and what hearing adds to an estimate."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from producer.pipelines.config import read_pipelines
from producer.readers.batch import read_batch
from producer.readers.quality import QcChoice, language_tag
from producer.submit.book_estimate import Estimate, hearing_costs
from tests.support.batch_files import write_jsonl, write_yaml
from worker.contract import QualityCheck
from worker.errors import BadInput
from worker.settings import Settings

VOICE_ID = "7f92f8afb8ec43bf81429cc1c9199cb1"
JOB = {"text": "Words to narrate.", "out": "s3://news/today", "voice_id": VOICE_ID}


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("retake", QcChoice(mode="retake")),
        ("Report", QcChoice(mode="report")),
        (False, QcChoice(mode="off")),  # YAML reads a bare `off` as false
        ({"mode": "retake", "retakes": 3}, QcChoice(mode="retake", retakes=3)),
        ({"retakes": 0}, QcChoice(retakes=0)),
        ({"mode": "report", "language": "FR_ca"}, QcChoice(mode="report", language="fr-ca")),
    ],
)
def test_a_mode_or_a_mapping_is_read(written: object, read: QcChoice) -> None:
    assert QcChoice.model_validate(written) == read


@pytest.mark.parametrize(
    ("written", "message"),
    [
        ("retke", "'retke' is no proof-listening mode; write off, report or retake"),
        (True, "true (YAML reads yes and on so too) is no proof-listening mode; write report or retake"),
        ({"mode": "loud"}, "mode 'loud' is no proof-listening mode"),
        ({"mode": "retake", "retakes": 9}, "retakes 9: write a whole number from 0 to 5"),
        ({"retakes": "3"}, "retakes '3': write a whole number from 0 to 5"),
        ({"retakes": True}, "retakes True: write a whole number"),
        ({"mode": "retake", "tries": 3}, "unknown key 'tries'; the keys are mode, retakes and language"),
        ({"language": "English"}, "language 'English' is not a language tag; write e.g. en, fr or pt-BR"),
        ([1, 2], "expected a mode or a mapping, got list"),
    ],
)
def test_a_bad_value_says_how_to_write_it(written: object, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        QcChoice.model_validate(written)
    assert message in str(caught.value)


def test_a_layer_fills_what_the_one_above_leaves_unset() -> None:
    command_line = QcChoice(mode="retake", retakes=1, language="de")
    assert QcChoice(retakes=4).over(command_line) == QcChoice(mode="retake", retakes=4, language="de")
    assert QcChoice(mode="off").over(command_line) == QcChoice(mode="off", retakes=1, language="de")
    assert QcChoice(retakes=0).over(QcChoice(retakes=3)).retakes == 0, "0 retakes is a choice, not unset"


def test_the_flag_wins_then_narrate_qc_then_the_preset() -> None:
    unset, narrate_qc = Settings(), Settings(qc="off", qc_retakes=4)
    assert QcChoice().resolved(unset, default="retake") == QualityCheck(mode="retake", retakes=2)
    assert QcChoice().resolved(narrate_qc, default="retake") == QualityCheck(mode="off", retakes=4)
    assert QcChoice(mode="report", retakes=1).resolved(narrate_qc, default="retake") == QualityCheck(
        mode="report", retakes=1
    )


def test_a_book_is_heard_in_its_language_unless_the_choice_names_one() -> None:
    assert QcChoice().resolved(Settings(), default="report", language="EN-us").language == "en-us"
    assert QcChoice().resolved(Settings(), default="report", language="English").language == ""
    assert QcChoice(language="fr").resolved(Settings(), default="report", language="en").language == "fr"
    assert [language_tag(t) for t in ("de_AT", " pt-BR ", "", "x")] == ["de-AT", "pt-BR", "", ""]


def test_a_job_is_off_unless_asked_and_then_carries_its_check() -> None:
    assert QcChoice().for_job(Settings()) is None, "off: the message is left as it was"
    assert QcChoice(mode="off").for_job(Settings(qc="retake")) is None
    assert QcChoice().for_job(Settings(qc="report", qc_retakes=3)) == QualityCheck(mode="report", retakes=3)
    assert QcChoice(mode="retake").for_job(Settings()) == QualityCheck(mode="retake", retakes=2)


def test_hearing_costs_the_audio_hour_and_retakes_a_share_of_speaking_and_hearing() -> None:
    # one hour of audio whose speaking costs $1.20, at $0.36 an hour heard and 5 % of takes taken again
    prices = {"audio_seconds": 3600.0, "speaking_usd": 1.2, "asr_per_hour": 0.36, "retake_share": 0.05}
    assert hearing_costs(QualityCheck(mode="off"), **prices) == (0.0, 0.0)
    assert hearing_costs(QualityCheck(mode="report"), **prices) == pytest.approx((0.36, 0.0))
    assert hearing_costs(QualityCheck(mode="retake"), **prices) == pytest.approx((0.36, 0.05 * (1.2 + 0.36)))
    assert hearing_costs(QualityCheck(mode="retake", retakes=0), **prices) == pytest.approx((0.36, 0.0))


def estimate_of(qc: str, *, tts: float, asr: float, retakes: float) -> Estimate:
    return Estimate(
        chapters=1,
        chunks=10,
        text_bytes=80_000,
        cost_usd=tts,
        cached_chunks=0,
        uncached_bytes=80_000,
        uncached_cost_usd=tts,
        audio_seconds=5_333.3,
        qc=qc,
        asr_cost_usd=asr,
        expected_retake_cost_usd=retakes,
    )


def test_the_budget_holds_the_total_and_says_what_it_is_made_of() -> None:
    off = estimate_of("off", tts=1.2, asr=0.0, retakes=0.0)
    off.check_budget(1.2, where="moby.epub")
    with pytest.raises(BadInput) as caught:
        off.check_budget(1.0, where="moby.epub")
    assert str(caught.value) == (
        "moby.epub: the estimate is $1.20 (80,000 bytes not yet rendered), over --budget $1.00;"
        " raise the budget or split the book"
    )
    retake = estimate_of("retake", tts=1.2, asr=0.5333, retakes=0.0867)
    assert retake.total_cost_usd == 1.82 and retake.as_dict()["total_cost_usd"] == 1.82
    with pytest.raises(BadInput) as caught:
        retake.check_budget(1.5, where="moby.epub")  # speaking alone fits: hearing and the retakes do not
    assert str(caught.value) == (
        "moby.epub: the estimate is $1.82 (80,000 bytes not yet rendered: $1.20 to speak them, $0.53 to hear them"
        " back and $0.09 expected for retakes, with --qc retake), over --budget $1.50; raise the budget or split"
        " the book, or hear less (--qc report, off)"
    )


def test_batch_entries_carry_their_own_qc(tmp_path: Path) -> None:
    path = write_jsonl(
        tmp_path,
        {**JOB, "qc": "retake"},
        {**JOB, "qc": {"mode": "report", "retakes": 1}},
        JOB,
    )
    assert [entry.qc for entry in read_batch(path)] == [
        QcChoice(mode="retake"),
        QcChoice(mode="report", retakes=1),
        None,
    ]
    yaml_path = write_yaml(
        tmp_path, f"books:\n  - {{text: Hi., out: 's3://a/b', voice_id: {VOICE_ID}, qc: off}}\n"
    )  # a bare off, which YAML reads as false
    assert read_batch(yaml_path)[0].qc == QcChoice(mode="off")


@pytest.mark.parametrize(
    ("qc", "message"),
    [
        ("loud", "news.jsonl: line 2: `qc`: 'loud' is no proof-listening mode; write off, report or retake"),
        ({"mode": "retake", "retakes": 6}, "news.jsonl: line 2: `qc`: retakes 6: write a whole number from 0 to 5"),
    ],
)
def test_a_bad_qc_in_a_batch_file_names_the_file_the_entry_and_the_fix(
    tmp_path: Path, qc: object, message: str
) -> None:
    path = write_jsonl(tmp_path, JOB, {**JOB, "qc": qc}, name="news.jsonl")
    with pytest.raises(BadInput) as caught:
        read_batch(path)
    assert str(caught.value).startswith(message)


PIPELINE = """\
pipelines:
  - name: inbox
    inbox: s3://books/inbox/
    out: s3://books/audio/
    voice_id: 7f92f8afb8ec43bf81429cc1c9199cb1
    every: 60s
"""


@pytest.mark.parametrize(
    ("line", "read"),
    [
        ("    qc: retake\n", QcChoice(mode="retake")),
        ("    qc: off\n", QcChoice(mode="off")),
        ("    qc: {mode: retake, retakes: 3}\n", QcChoice(mode="retake", retakes=3)),
        ("", None),
    ],
)
def test_a_pipeline_names_its_qc(tmp_path: Path, line: str, read: QcChoice | None) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(PIPELINE + line, encoding="utf-8")
    [pipeline] = read_pipelines(path).pipelines
    assert pipeline.qc == read


def test_a_bad_qc_in_a_pipeline_names_the_line_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "pipelines.yaml"
    path.write_text(PIPELINE + "    qc: {mode: retake, retakes: 7}\n", encoding="utf-8")
    with pytest.raises(BadInput) as caught:
        read_pipelines(path)
    assert str(caught.value) == (
        f"{path}: line 7: pipelines.0.qc: retakes 7: write a whole number from 0 to 5,"
        " the takes rendered again at most per chunk"
    )
