"""End to end with real processes: CLI → Redis → celery worker → Fish SDK → emulator → S3.

The first test runs `narrate` as a process, as a user does; the others, whose point is the worker's side, run it
in-process against the same stack (a process is mostly Python starting up).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis

from producer.dev.services import Service, stop_all
from producer.dev.stack import LocalStack
from tests.conftest import EmulatorControl
from tests.support.cli import narrate_here
from tests.support.voice_identity import message_voice
from worker import keys
from worker.audio import codec
from worker.audio.flac import lossless_flac
from worker.storage import Storage

pytestmark = pytest.mark.e2e
NARRATE = [sys.executable, "-m", "producer.cli.main"]


@pytest.fixture(scope="module")
def worker(stack: LocalStack) -> Iterator[Service]:
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]  # no jobs left by earlier tests
    EmulatorControl(stack.emulator.url).reset()  # type: ignore[union-attr]  # no latency or faults left either
    # These tests reuse one reference many times; promotion has its own tests. Retries come after a fraction of a
    # second, not the default 2 s doubling with jitter: how long a retry waits is not what these tests check.
    env = {"NARRATE_PROMOTE_AFTER": "off", "NARRATE_RETRY_BASE_SECONDS": "0.2"}
    service = stack.add_worker(concurrency=2, extra_env=env)
    yield service
    stop_all([service], kill=True)  # the module is over: nothing to finish
    stack.services.remove(service)


def narrate(
    args: list[str], env: dict[str, str], *, stdin: str | None = None, timeout: float = 180
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*NARRATE, *args], env={**os.environ, **env}, input=stdin, capture_output=True, text=True, timeout=timeout
    )


def wait_ok(ids: list[str], env: dict[str, str], *, run: Callable[..., Any] = narrate_here) -> list[dict]:
    result = run(["wait", *ids, "--json", "--timeout", "120"], env)
    records = json.loads(result.stdout)
    assert result.returncode == 0, (result.stderr, records)
    return records


def test_cli_submit_renders_to_s3_with_a_manifest(
    worker, stack_env, bucket, emulator: EmulatorControl, reference_clip, tmp_path
) -> None:
    clip, transcript = reference_clip
    chapter = tmp_path / "chapter-1.txt"
    chapter.write_text("The North Wind and the Sun were disputing which was the stronger.", encoding="utf-8")
    piped = "A traveller came along wrapped in a warm cloak, and they agreed on a contest."
    result = narrate(
        [
            "submit",
            str(chapter),
            "-",
            "--voice",
            str(clip),
            "--transcript",
            transcript,
            "--out",
            f"s3://{bucket}/books/fable",
            "--format",
            "mp3",
            "--json",
        ],
        stack_env,
        stdin=piped,
    )
    assert result.returncode == 0, result.stderr
    ids = [job["job_id"] for job in json.loads(result.stdout)["jobs"]]
    assert len(ids) == 2

    records = wait_ok(ids, stack_env, run=narrate)
    storage = Storage()
    for record, text in zip(records, [chapter.read_text(), piped]):
        assert record["state"] == "succeeded" and record["voice_mode"] == "one_shot"
        data = storage.get(bucket, f"books/fable/{record['job_id']}.mp3")
        seconds = codec.probe(data).duration_seconds
        words = len(text.split())
        assert words / 6 < seconds < words / 1.5, f"{seconds:.1f}s is implausible for {words} words"
        manifest = json.loads(storage.get(bucket, f"books/fable/{record['job_id']}.json"))
        assert manifest["text_bytes_billed"] == len(text.encode())
        assert manifest["voice_mode"] == "one_shot"
        assert manifest["reference_bytes_sent"] == len(lossless_flac(clip.read_bytes()) or b"")
        assert manifest["output"]["url"] == record["output_url"]
        assert manifest["output"]["duration_seconds"] == pytest.approx(seconds, abs=0.01)
    seen = emulator.requests()
    assert sorted(r["text"] for r in seen) == sorted([chapter.read_text().strip(), piped])
    assert all(r["mode"] == "one_shot" and r["reference_texts"] == [transcript] for r in seen)

    status = narrate(["status", *ids, "--json"], stack_env)
    assert status.returncode == 0 and [r["state"] for r in json.loads(status.stdout)] == ["succeeded"] * 2


def test_existing_fish_voice_sends_only_its_id(
    worker, stack_env, bucket, emulator: EmulatorControl, reference_clip, tmp_path
) -> None:
    model_id = emulator.create_model(reference_clip)
    text = tmp_path / "t.txt"
    text.write_text("Spoken with a voice that was trained before.", encoding="utf-8")
    result = narrate_here(
        ["submit", str(text), "--voice-id", model_id, "--out", f"s3://{bucket}", "--format", "opus", "--json"],
        stack_env,
    )
    assert result.returncode == 0, result.stderr
    [record] = wait_ok([json.loads(result.stdout)["jobs"][0]["job_id"]], stack_env)
    assert record["voice_mode"] == "reference_id"
    [seen] = emulator.requests()
    assert seen["mode"] == "reference_id" and seen["reference_id"] == model_id and seen["reference_bytes"] == 0
    assert codec.probe(Storage().get(bucket, f"{record['job_id']}.opus")).codec == "opus"


def celery_message(task: str, kwargs: dict, task_id: str) -> bytes:
    """A Celery protocol-2 message built by hand, as a producer in another language would."""
    body = base64.b64encode(
        json.dumps([[], kwargs, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}]).encode()
    )
    return json.dumps(
        {
            "body": body.decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "js",
                "task": task,
                "id": task_id,
                "root_id": task_id,
                "parent_id": None,
                "group": None,
                "retries": 0,
                "argsrepr": "()",
                "kwargsrepr": "{}",
                "origin": "non-python-producer",
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": "",
                "delivery_mode": 2,
                "priority": 0,
                "delivery_info": {"exchange": "", "routing_key": "narrate"},
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    ).encode()


def send_raw(stack: LocalStack, job: dict) -> None:
    redis.Redis.from_url(stack.redis.url).lpush(
        "narrate", celery_message("narrate.render", {"job": job}, job.get("job_id", uuid.uuid4().hex))
    )  # type: ignore[union-attr]


def raw_job(bucket: str, clip_key: str, clip_sha: str, size: int, transcript: str, text: str) -> dict:
    """Built from the documented JSON Schema and docs/voice-identity.md only: no import of the Python models."""
    return {
        "schema_version": 1,
        "job_id": uuid.uuid4().hex,
        "text": text,
        "title": "from-js",
        "voice": message_voice([{"key": clip_key, "sha256": clip_sha, "size": size, "transcript": transcript}]),
        "output": {"bucket": bucket, "prefix": "raw", "format": "wav"},
        "submitted_at": datetime.now(UTC).isoformat(),
    }


def test_a_job_enqueued_by_name_with_plain_json_renders(worker, stack, stack_env, bucket, reference_clip) -> None:
    import hashlib

    schema = json.loads(narrate_here(["schema"], stack_env).stdout)
    clip, transcript = reference_clip
    data = clip.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    Storage().put(bucket, f"refs/{sha}.wav", data, content_type="audio/wav")
    job = raw_job(bucket, f"refs/{sha}.wav", sha, len(data), transcript, "Enqueued by a program in another language.")
    assert set(schema["required"]) <= set(job)
    send_raw(stack, job)
    [record] = wait_ok([job["job_id"]], stack_env)
    assert record["output_url"] == f"s3://{bucket}/raw/{job['job_id']}.wav"
    assert codec.probe(Storage().get(bucket, f"raw/{job['job_id']}.wav")).duration_seconds > 1


def test_malformed_messages_fail_their_job_and_the_worker_keeps_serving(
    worker, stack, stack_env, bucket, reference_clip
) -> None:
    clip, transcript = reference_clip
    good = raw_job(bucket, "refs/" + "0" * 64 + ".wav", "0" * 64, 1, transcript, "Text.")
    wrong_version = {**good, "job_id": uuid.uuid4().hex, "schema_version": 99}
    missing_text = {k: v for k, v in good.items() if k != "text"} | {"job_id": uuid.uuid4().hex}
    send_raw(stack, wrong_version)
    send_raw(stack, missing_text)
    for job, expected in (
        (wrong_version, "schema_version 99 is not supported"),
        (missing_text, "text: Field required"),
    ):
        result = narrate_here(["wait", job["job_id"], "--json", "--timeout", "60"], stack_env)
        [record] = json.loads(result.stdout)
        assert result.returncode == 1 and record["state"] == "failed"
        assert expected in record["error"]
    assert worker.alive()
    # The same worker still renders good jobs afterwards.
    text = Path(stack.workdir) / "after.txt"
    text.write_text("Still here and still speaking.", encoding="utf-8")
    result = narrate_here(
        ["submit", str(text), "--voice", str(clip), "--transcript", transcript, "--out", f"s3://{bucket}", "--wait"],
        stack_env,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "succeeded" in result.stdout


def test_a_permanent_fish_error_fails_the_job_once_with_a_clear_message(
    worker, stack_env, bucket, emulator, reference_clip, tmp_path
) -> None:
    emulator.control(fail_status=403, fail_count=1)
    text = tmp_path / "t.txt"
    text.write_text("Nobody pays for this one.", encoding="utf-8")
    result = narrate_here(
        [
            "submit",
            str(text),
            "--voice",
            str(reference_clip[0]),
            "--transcript",
            reference_clip[1],
            "--out",
            f"s3://{bucket}/p",
            "--json",
        ],
        stack_env,
    )
    job_id = json.loads(result.stdout)["jobs"][0]["job_id"]
    waited = narrate_here(["wait", job_id, "--json", "--timeout", "60"], stack_env)
    [record] = json.loads(waited.stdout)
    assert waited.returncode == 1 and record["state"] == "failed" and "not permitted" in record["error"]
    assert record["attempts"] == "1" or record["attempts"] == 1
    assert emulator.stats()["tts_requests"] == 1
    assert not Storage().exists(bucket, keys.output_audio("p", job_id, "mp3"))
    assert not Storage().exists(bucket, keys.output_manifest("p", job_id))


def test_transient_fish_errors_are_retried_until_success(
    worker, stack_env, bucket, emulator, reference_clip, tmp_path
) -> None:
    emulator.control(fail_status=503, fail_count=2)
    text = tmp_path / "t.txt"
    text.write_text("Third time lucky.", encoding="utf-8")
    env = stack_env
    result = narrate_here(
        [
            "submit",
            str(text),
            "--voice",
            str(reference_clip[0]),
            "--transcript",
            reference_clip[1],
            "--out",
            f"s3://{bucket}",
            "--json",
        ],
        env,
    )
    [record] = wait_ok([json.loads(result.stdout)["jobs"][0]["job_id"]], env)
    assert int(record["attempts"]) == 3
    assert emulator.stats()["tts_requests"] == 3


class _RunsAShellCommand:
    """Unpickling this runs a command: what an attacker with broker access would send."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):  # noqa: ANN204
        return (os.system, (self.command,))


def test_a_pickled_message_is_refused_and_never_executed(worker, stack, tmp_path) -> None:
    import pickle

    marker = tmp_path / "pwned"
    body = base64.b64encode(pickle.dumps(_RunsAShellCommand(f"touch {marker}"))).decode()
    message = json.loads(celery_message("narrate.render", {}, uuid.uuid4().hex))
    message |= {"body": body, "content-type": "application/x-python-serialize", "content-encoding": "binary"}
    client = redis.Redis.from_url(stack.redis.url)
    client.lpush("narrate", json.dumps(message))
    deadline = time.monotonic() + 30
    while client.llen("narrate") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert client.llen("narrate") == 0, "the worker never took the message"
    while "untrusted content" not in worker.log_path.read_text(errors="replace"):  # refused, never unpickled
        assert time.monotonic() < deadline, worker.log_tail()
        time.sleep(0.1)
    assert not marker.exists(), "the pickled payload was executed"
    assert worker.alive()


def test_the_fish_key_never_reaches_the_worker_log(worker, stack) -> None:
    key = stack.env()["FISH_API_KEY"]
    assert key and key not in worker.log_path.read_text(errors="replace")
