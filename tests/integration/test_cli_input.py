"""`narrate submit` with bad input: exit 2, a message that says what to fix, nothing uploaded or enqueued."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from worker.storage import Storage

runner = CliRunner()


@pytest.fixture
def good_text(tmp_path: Path) -> Path:
    path = tmp_path / "ok.txt"
    path.write_text("A perfectly good text.", encoding="utf-8")
    return path


def submit(args: list[str], stdin: str | None = None):
    return runner.invoke(app, ["submit", *args], input=stdin)


def assert_nothing_happened(redis_client: redis.Redis, bucket: str) -> None:
    assert redis_client.dbsize() == 0, redis_client.keys()
    assert Storage()._client.list_objects_v2(Bucket=bucket).get("KeyCount", 0) == 0


def cases(tmp: Path, good_text: Path, clip: Path, transcript: str, bucket: str) -> dict[str, tuple[list[str], str]]:
    empty = tmp / "empty.txt"
    empty.write_text("")
    blank = tmp / "blank.txt"
    blank.write_text("  \n\t\n ")
    not_audio = tmp / "voice.wav"
    not_audio.write_text("RIFF but not really audio " * 40)
    out = f"s3://{bucket}/ok"
    voice = ["--voice", str(clip), "--transcript", transcript]
    return {
        "missing file": ([str(tmp / "nope.txt"), *voice, "--out", out], "no such file"),
        "unreadable file": (["/proc/self/mem", *voice, "--out", out], "cannot be read"),
        "empty text": ([str(empty), *voice, "--out", out], "empty"),
        "whitespace-only text": ([str(blank), *voice, "--out", out], "only whitespace"),
        "reference not audio": (
            [str(good_text), "--voice", str(not_audio), "--transcript", "x", "--out", out],
            "not decodable",
        ),
        "empty transcript": (
            [str(good_text), "--voice", str(clip), "--transcript", "   ", "--out", out],
            "transcript is empty",
        ),
        "no transcript": ([str(good_text), "--voice", str(clip), "--out", out], "transcript is empty"),
        "unknown format": ([str(good_text), *voice, "--out", out, "--format", "flac"], "unknown format"),
        "out not s3": ([str(good_text), *voice, "--out", f"/data/{bucket}"], "expected s3://bucket"),
        "prefix with ..": ([str(good_text), *voice, "--out", f"s3://{bucket}/a/../b"], "'..'"),
        "prefix with control": ([str(good_text), *voice, "--out", f"s3://{bucket}/a\x1bb"], "control characters"),
        "missing bucket": ([str(good_text), *voice, "--out", "s3://no-such-bucket-zz/x"], "does not exist"),
        "voice and voice id": ([str(good_text), *voice, "--voice-id", "abc", "--out", out], "not both"),
        "no voice": ([str(good_text), "--out", out], "no voice"),
        "clip shorter than 1 s": (
            [str(good_text), "--voice", str(tmp / "tiny.wav"), "--transcript", "Hi.", "--out", out],
            "at least 1 s",
        ),
    }


CASE_NAMES = [
    "missing file",
    "unreadable file",
    "empty text",
    "whitespace-only text",
    "reference not audio",
    "empty transcript",
    "no transcript",
    "unknown format",
    "out not s3",
    "prefix with ..",
    "prefix with control",
    "missing bucket",
    "voice and voice id",
    "no voice",
    "clip shorter than 1 s",
]


@pytest.mark.parametrize("case", CASE_NAMES)
def test_bad_input_exits_2_and_changes_nothing(case, tmp_path, good_text, reference_clip, bucket, redis_client) -> None:
    from producer.dev.emulator.speech import make_reference_clip

    (tmp_path / "tiny.wav").write_bytes(make_reference_clip("Hi."))
    args, message = cases(tmp_path, good_text, *reference_clip, bucket)[case]
    result = submit(args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert_nothing_happened(redis_client, bucket)


def test_short_clip_is_accepted_with_a_warning(tmp_path, good_text, short_clip, bucket, redis_client) -> None:
    result = submit(
        [str(good_text), "--voice", str(short_clip[0]), "--transcript", short_clip[1], "--out", f"s3://{bucket}"]
    )
    assert result.exit_code == 0, result.output
    assert "Fish advises 10-30 s" in result.output
    assert redis_client.llen("narrate") == 1


def test_status_of_an_unknown_job_is_bad_input(stack_env, redis_client) -> None:
    result = runner.invoke(app, ["status", "0" * 32])
    assert result.exit_code == 2 and "no such job" in result.output


def test_invalid_configuration_is_reported_not_a_traceback(monkeypatch) -> None:
    from worker.settings import get_settings

    monkeypatch.setenv("NARRATE_BROKER_URL", "amqp://elsewhere")
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["status", "0" * 32])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2 and "invalid configuration" in result.output and "redis" in result.output
