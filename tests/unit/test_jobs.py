from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from worker import keys
from worker.contract import (
    RENDER_TASK,
    ClipVoice,
    Output,
    RenderJob,
    check_prefix,
    job_schema,
    normalize_transcript,
    reference_hash,
)

HASH = "a" * 64


def job_payload(**overrides: object) -> dict:
    payload = {
        "schema_version": 1,
        "job_id": "0" * 32,
        "text": "Hello.",
        "voice": {
            "mode": "clips",
            "reference_hash": HASH,
            "clips": [{"key": f"refs/{HASH}.wav", "sha256": HASH, "size": 10, "transcript": "Hi."}],
        },
        "output": {"bucket": "books", "prefix": "a/b", "format": "mp3"},
        "submitted_at": datetime.now(UTC).isoformat(),
    }
    payload.update(overrides)
    return payload


def test_a_valid_job_round_trips_through_json() -> None:
    job = RenderJob.model_validate(job_payload())
    assert RenderJob.model_validate_json(job.model_dump_json()) == job
    assert isinstance(job.voice, ClipVoice)


def test_model_voice_is_selected_by_mode() -> None:
    job = RenderJob.model_validate(job_payload(voice={"mode": "model", "reference_id": "abc123"}))
    assert job.voice.reference_id == "abc123"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "overrides",
    [
        {"schema_version": 2},
        {"job_id": "not-an-id"},
        {"text": "   \n "},
        {"extra_field": 1},
        {"output": {"bucket": "books", "prefix": "../escape", "format": "mp3"}},
        {"output": {"bucket": "books", "prefix": "a", "format": "flac"}},
        {"output": {"bucket": "Bad_Bucket", "prefix": "", "format": "mp3"}},
        {"voice": {"mode": "clips", "reference_hash": HASH, "clips": []}},
        {
            "voice": {
                "mode": "clips",
                "reference_hash": HASH,
                "clips": [{"key": "../etc/passwd", "sha256": HASH, "size": 1, "transcript": "x"}],
            }
        },
        {"voice": {"mode": "model", "reference_id": "a b"}},
    ],
)
def test_contract_violations_are_refused(overrides: dict) -> None:
    with pytest.raises(ValidationError):
        RenderJob.model_validate(job_payload(**overrides))


def test_missing_field_is_refused() -> None:
    payload = job_payload()
    del payload["output"]
    with pytest.raises(ValidationError):
        RenderJob.model_validate(payload)


@pytest.mark.parametrize("prefix", ["..", "a/../b", "/abs", "a%2e%2e", "a\x00b", "tab\there", "a//b", "./a"])
def test_unsafe_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError):
        check_prefix(prefix)


def test_safe_prefixes_are_kept() -> None:
    assert check_prefix("") == ""
    assert check_prefix("books/2026/vol-1") == "books/2026/vol-1"
    assert check_prefix("books/") == "books"
    assert Output(bucket="my.bucket-1", prefix="x").prefix == "x"


def test_reference_identity_covers_audio_and_normalized_transcript() -> None:
    clip, clip2 = "1" * 64, "2" * 64  # the clips' sha256s
    base = reference_hash([(clip, "Hello,  world.")])
    assert base == reference_hash([(clip, " Hello, world. ")])
    assert base != reference_hash([(clip, "Hello world.")])
    assert base != reference_hash([(clip2, "Hello, world.")])
    assert base != reference_hash([(clip, "Hello, world."), (clip, "Hello, world.")])
    assert normalize_transcript("a\n b\t c") == "a b c"


def test_schema_names_the_task_fields() -> None:
    schema = job_schema()
    assert RENDER_TASK == "narrate.render"
    assert set(schema["required"]) >= {"schema_version", "job_id", "text", "voice", "output", "submitted_at"}
    assert schema["additionalProperties"] is False


def test_key_layout() -> None:
    assert keys.output_audio("a/b", "j1", "mp3") == "a/b/j1.mp3"
    assert keys.output_audio("", "j1", "wav") == "j1.wav"
    assert keys.output_manifest("a", "j1") == "a/j1.json"
    assert keys.reference_clip(HASH, "wav") == f"refs/{HASH}.wav"
    assert keys.job_record("j1") == "narrate:job:j1"
    assert keys.jobs_in_state("failed") == "narrate:jobs:failed"
