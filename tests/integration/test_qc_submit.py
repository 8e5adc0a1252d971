"""Proof-listening asked at the command line, against real Redis and S3 (no workers): `--qc`, NARRATE_QC, presets and
batch entries reach a book's stored plan and a job's queued message, and `--budget` holds hearing and retakes."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from tests.support.epubs import fable
from worker import keys
from worker.app import QUEUE
from worker.books.plan import BookPlan
from worker.contract import QualityCheck
from worker.settings import get_settings
from worker.storage import Storage

runner = CliRunner()
VOICE_ID = "7f92f8afb8ec43bf81429cc1c9199cb1"


def narrate(*args: str) -> str:
    get_settings.cache_clear()  # the environment as the test left it
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def queued_jobs(client: redis.Redis) -> list[dict]:
    """The job of every render message queued, oldest first."""
    messages = [json.loads(raw) for raw in client.lrange(QUEUE, 0, -1)[::-1]]
    bodies = [json.loads(base64.b64decode(m["body"])) for m in messages if m["headers"]["task"] == "narrate.render"]
    return [kwargs["job"] for _, kwargs, _ in bodies]


def stored_plan(bucket: str, prefix: str, output: str) -> BookPlan:
    book_id = json.loads(output.strip().splitlines()[-1])["book_id"]
    return BookPlan.model_validate_json(Storage().get(bucket, keys.book_plan(prefix, book_id)) or b"")


def test_a_jobs_message_carries_its_qc_only_when_asked(
    stack_env, bucket, redis_client, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    note = tmp_path / "note.txt"
    note.write_text("A short note to narrate.", encoding="utf-8")
    common = [str(note), "--voice-id", VOICE_ID, "--out", f"s3://{bucket}/notes"]
    narrate("submit", *common)
    narrate("submit", *common, "--qc", "retake", "--qc-retakes", "4")
    monkeypatch.setenv("NARRATE_QC", "report")
    narrate("submit", *common)
    plain, asked, by_default = queued_jobs(redis_client)
    assert "qc" not in plain, "off: the message is the one workers from before accept"
    assert asked["qc"] == {"mode": "retake", "retakes": 4, "language": ""}
    assert by_default["qc"] == {"mode": "report", "retakes": 2, "language": ""}


def test_a_books_plan_carries_the_flag_else_narrate_qc_else_its_presets_qc(
    stack_env, bucket, redis_client, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = str(fable(tmp_path / "fable.epub"))
    common = [book, "--voice-id", VOICE_ID, "--json"]
    asked = narrate("book", *common, "--out", f"s3://{bucket}/asked", "--qc", "report", "--qc-retakes", "1")
    assert stored_plan(bucket, "asked", asked).qc == QualityCheck(mode="report", retakes=1, language="en")
    monkeypatch.setenv("NARRATE_QC_RETAKES", "3")
    store = narrate("book", *common, "--out", f"s3://{bucket}/store", "--preset", "acx")
    assert stored_plan(bucket, "store", store).qc == QualityCheck(mode="retake", retakes=3, language="en")
    standard = narrate("book", *common, "--out", f"s3://{bucket}/standard")
    assert stored_plan(bucket, "standard", standard).qc.mode == "report"
    monkeypatch.setenv("NARRATE_QC", "off")
    quiet = narrate("book", *common, "--out", f"s3://{bucket}/quiet", "--preset", "acx")
    assert stored_plan(bucket, "quiet", quiet).qc.mode == "off"


def test_a_batch_files_entries_carry_their_own_qc_over_the_command_lines(
    stack_env, bucket, redis_client, tmp_path
) -> None:
    fable(tmp_path / "fable.epub")
    entries = [
        {"file": "fable.epub", "out": f"s3://{bucket}/fable", "voice_id": VOICE_ID, "qc": {"mode": "retake"}},
        {"text": "Heard and reported.", "out": f"s3://{bucket}/news", "voice_id": VOICE_ID, "qc": "report"},
        {"text": "Not heard.", "out": f"s3://{bucket}/news", "voice_id": VOICE_ID},
    ]
    batch = tmp_path / "books.yaml"
    batch.write_text("books:\n" + "".join(f"  - {json.dumps(e)}\n" for e in entries), encoding="utf-8")
    narrate("submit", str(batch), "--qc-retakes", "1")
    [key] = [k.decode() for k in redis_client.keys("narrate:book:*") if k.count(b":") == 2]
    plan = Storage().get(bucket, keys.book_plan("fable", key.split(":")[2]))
    assert BookPlan.model_validate_json(plan or b"").qc == QualityCheck(mode="retake", retakes=1, language="en")
    reported, plain = queued_jobs(redis_client)
    assert reported["qc"] == {"mode": "report", "retakes": 1, "language": ""} and "qc" not in plain


def test_a_budget_that_covers_speaking_but_not_hearing_and_retakes_is_refused(
    stack_env, bucket, redis_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NARRATE_ASR_PRICE_PER_HOUR", "36")
    monkeypatch.setenv("NARRATE_QC_EXPECTED_RETAKE_SHARE", "0.5")
    sentence = "The wind and the sun argued which was the stronger of the two."
    book = tmp_path / "fable.md"
    book.write_text("# Fable\n\n## One\n\n" + " ".join([sentence] * 10) + "\n", encoding="utf-8")
    characters = 10 * len(sentence) + 9  # 629 ASCII characters, one chunk
    speaking = characters / 1e6 * 15  # $0.0094
    hearing = characters / 15 * 36 / 3600  # $0.4193
    retaking = 0.5 * (speaking + hearing)  # $0.2144
    budget = f"{speaking + hearing:.2f}"  # $0.43: speaking and hearing fit, the retakes expected do not
    common = [str(book), "--voice-id", VOICE_ID, "--out", f"s3://{bucket}/fable", "--budget", budget]

    get_settings.cache_clear()
    refused = runner.invoke(app, ["book", *common, "--qc", "retake"])
    assert refused.exit_code == 2, refused.output
    assert f"the estimate is ${speaking + hearing + retaking:.2f}" in refused.output
    assert "to hear them back" in refused.output and "expected for retakes" in refused.output
    assert "over --budget $0.43" in refused.output
    assert redis_client.keys("narrate:*") == [] and redis_client.llen(QUEUE) == 0, "nothing was sent"

    narrate("book", *common, "--qc", "report")
    assert redis_client.llen(QUEUE) == 1, "heard but not taken again, it fits"
