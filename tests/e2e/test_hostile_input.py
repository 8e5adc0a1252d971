"""Hostile and bad input at both ends, with real processes.

Producer (`narrate submit`, a process for one case of each kind of check, the
others in-process against the same stack): exit 2, a message saying what is
wrong, nothing uploaded, nothing recorded or enqueued. Worker (raw Celery
messages, as any client could send): the job ends `failed` with a clear error,
nothing is written at its output or manifest key, and the same worker renders
a good job straight afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
import os
import pickle
import struct
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
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
from worker.jobs.records import JobRecord, JobStore
from worker.storage import Storage

pytestmark = pytest.mark.e2e

NARRATE = [sys.executable, "-m", "producer.cli.main"]
QUEUE = "narrate"
WRONG_KEY_QUEUE = "narrate-hostile-bad-auth"  # only the wrong-key worker listens here
MAX_TEXT_BYTES = 2000
MAX_MESSAGE_BYTES = 50_000
LIMITS = {"NARRATE_MAX_TEXT_BYTES": str(MAX_TEXT_BYTES), "NARRATE_MAX_MESSAGE_BYTES": str(MAX_MESSAGE_BYTES)}
# One reference is reused by every case; promotion has its own tests.
WORKER_ENV = {**LIMITS, "NARRATE_PROMOTE_AFTER": "off"}
TIMEOUT = 60.0


# ---------------------------------------------------------------------------------------------
# Helpers


def tone_wav(seconds: float, *, rate: int = 8000) -> bytes:
    """A quiet 220 Hz mono WAV, built with the stdlib: one period repeated, so ten minutes cost nothing."""
    period = rate // 220 or 1
    cycle = b"".join(struct.pack("<h", int(3000 * math.sin(2 * math.pi * i / period))) for i in range(period))
    frames = int(seconds * rate)
    pcm = (cycle * (frames // period + 1))[: frames * 2]
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buffer.getvalue()


@dataclass(frozen=True)
class Clips:
    """Reference clips of awkward lengths, and one that is not audio at all, as files for `narrate submit`."""

    tiny: Path  # 0.2 s
    ten_minutes: Path
    twenty_seconds: Path
    two_seconds: Path
    not_audio: Path


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    folder = tmp_path_factory.mktemp("hostile-clips")
    made = {
        "tiny": tone_wav(0.2),
        "ten_minutes": tone_wav(600),
        "twenty_seconds": tone_wav(20),
        "two_seconds": tone_wav(2),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = folder / f"{name}.wav"
        paths[name].write_bytes(data)
    paths["not_audio"] = folder / "not-audio.wav"
    paths["not_audio"].write_bytes(b"RIFF\x00\x00\x00\x00WAVE but nothing after it " * 50)
    return Clips(**paths)


def narrate(args: list[str], env: dict[str, str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*NARRATE, *args], env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout)


def start_narrate(args: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
    """`narrate ARGS` started, not waited for (`finish` waits)."""
    return subprocess.Popen(
        [*NARRATE, *args], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(process: subprocess.Popen[str], *, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    stdout, stderr = process.communicate(timeout=timeout)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def clear_narrate_keys(client: redis.Redis) -> None:
    """Forget jobs and the queue without touching Celery's own bindings (a worker may be running)."""
    for key in client.scan_iter(match="narrate:*"):
        client.delete(key)
    client.delete(QUEUE)


def bucket_keys(bucket: str) -> list[str]:
    listed = Storage()._client.list_objects_v2(Bucket=bucket)
    return [item["Key"] for item in listed.get("Contents", [])]


def bucket_exists(bucket: str) -> bool:
    return any(b["Name"] == bucket for b in Storage()._client.list_buckets().get("Buckets", []))


def celery_message(job: Any, *, task_id: str, queue: str = QUEUE) -> bytes:
    """A Celery protocol-2 JSON message built by hand, as a producer in another language would."""
    embed = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
    body = base64.b64encode(json.dumps([[], {"job": job}, embed]).encode()).decode()
    return json.dumps(
        {
            "body": body,
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {
                "lang": "js",
                "task": "narrate.render",
                "id": task_id,
                "root_id": task_id,
                "parent_id": None,
                "group": None,
                "retries": 0,
                "argsrepr": "()",
                "kwargsrepr": "{}",
                "origin": "hostile-producer",
            },
            "properties": {
                "correlation_id": task_id,
                "reply_to": "",
                "delivery_mode": 2,
                "priority": 0,
                "delivery_info": {"exchange": "", "routing_key": queue},
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
    ).encode()


@dataclass(frozen=True)
class Raw:
    """Sends hand-built messages to the stack and reads back what became of them."""

    stack: LocalStack
    bucket: str
    clip_key: str
    clip_sha: str
    clip_size: int
    transcript: str

    @property
    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.stack.redis.url)  # type: ignore[union-attr]

    @property
    def store(self) -> JobStore:
        return JobStore.from_url(self.stack.redis.url)  # type: ignore[union-attr]

    def job(self, text: str = "Still serving.\r\n\tAnd still speaking.", *, prefix: str = "raw") -> dict[str, Any]:
        """A valid job from the documented JSON Schema only; tests break one thing at a time."""
        return {
            "schema_version": 1,
            "job_id": uuid.uuid4().hex,
            "text": text,
            "title": "hostile",
            "voice": message_voice(
                [{"key": self.clip_key, "sha256": self.clip_sha, "size": self.clip_size, "transcript": self.transcript}]
            ),
            "output": {"bucket": self.bucket, "prefix": prefix, "format": "wav"},
            "submitted_at": datetime.now(UTC).isoformat(),
        }

    def send(self, job: Any, *, queue: str = QUEUE) -> None:
        job_id = job.get("job_id") if isinstance(job, dict) else None
        self.redis.lpush(
            queue, celery_message(job, task_id=job_id if isinstance(job_id, str) else uuid.uuid4().hex, queue=queue)
        )

    def finished(self, job_id: str) -> JobRecord:
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            record = self.store.get(job_id)
            if record is not None and record.finished:
                return record
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish in {TIMEOUT:.0f}s: {self.store.get(job_id)}")


def clip_ref(data: bytes) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    return {"key": f"refs/{sha}.wav", "sha256": sha, "size": len(data), "transcript": "The words of the clip."}


def with_clip(job: dict[str, Any], clip: dict[str, Any]) -> dict[str, Any]:
    return {**job, "voice": message_voice([clip])}


def with_output(job: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**job, "output": {**job["output"], **changes}}


def wait_for_log(service: Service, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in service.log_path.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"{text!r} not in {service.log_path}:\n{service.log_tail()}"
        time.sleep(0.1)


def assert_keeps_serving(raw: Raw, worker: Service) -> None:
    """A good job sent after the bad one is rendered by the same worker, which is still running."""
    good = raw.job(prefix="after")
    raw.send(good)
    record = raw.finished(good["job_id"])
    assert record.state == "succeeded", record
    assert Storage().exists(raw.bucket, keys.output_manifest("after", good["job_id"]))
    assert worker.alive(), worker.log_tail()


@pytest.fixture(scope="module")
def worker(stack: LocalStack) -> Iterator[Service]:
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]  # no jobs left by earlier tests
    EmulatorControl(stack.emulator.url).reset()  # type: ignore[union-attr]  # no latency or faults left either
    # One process: a good job after a bad one proves this very worker is still serving.
    service = stack.add_worker(concurrency=1, extra_env=WORKER_ENV)
    yield service
    stop_all([service], kill=True)  # the module is over: nothing to finish
    stack.services.remove(service)


def raw_in(stack: LocalStack, bucket: str, reference_clip: tuple[Path, str]) -> Raw:
    """A `Raw` for `bucket`, the reference clip stored in it (where a job's clips are looked for)."""
    clip, transcript = reference_clip
    data = clip.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    Storage().put(bucket, f"refs/{sha}.wav", data, content_type="audio/wav")
    return Raw(
        stack=stack, bucket=bucket, clip_key=f"refs/{sha}.wav", clip_sha=sha, clip_size=len(data), transcript=transcript
    )


@pytest.fixture
def raw(stack: LocalStack, stack_env: dict[str, str], bucket: str, reference_clip: tuple[Path, str]) -> Raw:
    return raw_in(stack, bucket, reference_clip)


# ---------------------------------------------------------------------------------------------
# Producer: `narrate submit` refuses before any side effect


def _voice(clip: Path, transcript: str) -> list[str]:
    return ["--voice", str(clip), "--transcript", transcript]


@dataclass(frozen=True)
class ProducerCase:
    message: str
    text: str | bytes = "A perfectly good text to narrate."
    voice: Callable[[Path, str, Clips], list[str]] = lambda clip, transcript, k: _voice(clip, transcript)
    out: str = "s3://{bucket}/books"  # {missing} is a bucket that does not exist
    extra: tuple[str, ...] = ()


PRODUCER_CASES: dict[str, ProducerCase] = {
    "text over NARRATE_MAX_TEXT_BYTES": ProducerCase(
        "2500 bytes, over the limit of 2000 (NARRATE_MAX_TEXT_BYTES)", text="word " * 500
    ),
    "invalid UTF-8 in the text file": ProducerCase(
        "not UTF-8 text (invalid byte at offset 3)", text=b"caf\xe9 au lait"
    ),
    "escape sequence in the text": ProducerCase(
        "control character U+001B at character 6", text="Clear \x1b[2J the screen."
    ),
    "DEL in the text": ProducerCase("control character U+007F", text="Rub out\x7f."),
    "empty transcript": ProducerCase("transcript is empty", voice=lambda c, t, k: _voice(c, "  \t ")),
    "reference not audio": ProducerCase("not decodable audio", voice=lambda c, t, k: _voice(k.not_audio, t)),
    "reference of 0.2 s": ProducerCase("0.20 s; at least 1 s", voice=lambda c, t, k: _voice(k.tiny, "Hi.")),
    "reference of 10 minutes": ProducerCase("600 s; at most 120 s", voice=lambda c, t, k: _voice(k.ten_minutes, t)),
    "prefix with ..": ProducerCase("contains a '..' or '.' segment", out="s3://{bucket}/books/../../etc"),
    "absolute prefix": ProducerCase("must be relative", out="s3://{bucket}//etc/passwd"),
    "percent-encoded traversal": ProducerCase("percent-encoding is not allowed", out="s3://{bucket}/%2e%2e/%2e%2e/etc"),
    "control character in prefix": ProducerCase("control characters", out="s3://{bucket}/books\x1b[2Jx"),
    "bucket does not exist": ProducerCase("does not exist", out="s3://{missing}/books"),
    "unsupported format flac": ProducerCase("unknown format", extra=("--format", "flac")),
    "unknown option": ProducerCase("No such option", extra=("--pitch", "2")),
    "sample rate Fish does not offer": ProducerCase("--sample-rate 12345", extra=("--sample-rate", "12345")),
    "speed outside the API's range": ProducerCase("--speed 3.0", extra=("--speed", "3")),
}


@dataclass(frozen=True)
class Refusal:
    """One case's `narrate submit`, and where it could have left something behind."""

    result: subprocess.CompletedProcess[str]
    bucket: str  # its own, empty before it ran
    missing_bucket: str  # named by no bucket: it must still not exist afterwards


def own_buckets(stack: LocalStack, cases: list[str]) -> dict[str, str]:
    """A new bucket for each case, made before any case runs."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in stack.env().items():
            patch.setenv(name, value)
        storage = Storage()
        buckets = {case: f"test-{uuid.uuid4().hex[:12]}" for case in cases}
        for name in buckets.values():
            storage.create_bucket(name)
    return buckets


def run_cases(cases: list[str], run: Callable[[int], Any]) -> dict[str, Any]:
    """`run(number)` for every case, a few at a time: each is mostly a `narrate` process starting up, and the
    start-ups overlap instead of adding up."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(cases, pool.map(run, range(len(cases)))))


# One case of each kind of check runs as a `narrate submit` process of its own: the text read from a file, the
# clip decoded, the prefix and the bucket from argv, click's own option parsing. The rest run in this process
# against the same stack and settings: a process is mostly Python starting up, which proves nothing more.
AS_PROCESSES = (
    "text over NARRATE_MAX_TEXT_BYTES",
    "reference not audio",
    "control character in prefix",
    "bucket does not exist",
    "unknown option",
)


@pytest.fixture(scope="module")
def refusals(
    stack: LocalStack, reference_clip: tuple[Path, str], clips: Clips, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Refusal]:
    """Every case's `narrate submit`, each with a bucket of its own: the processes start first and run while the
    in-process cases run."""
    buckets = own_buckets(stack, list(PRODUCER_CASES))
    clear_narrate_keys(redis.Redis.from_url(stack.redis.url))  # type: ignore[union-attr]
    folder = tmp_path_factory.mktemp("refusals")
    env = {**stack.env(), **LIMITS}

    def arguments(number: int, case: str) -> tuple[list[str], str]:
        spec = PRODUCER_CASES[case]
        text_file = folder / str(number) / "chapter.txt"
        text_file.parent.mkdir()
        text_file.write_bytes(spec.text if isinstance(spec.text, bytes) else spec.text.encode("utf-8"))
        missing_bucket = f"no-such-bucket-{uuid.uuid4().hex[:12]}"
        out = spec.out.format(bucket=buckets[case], missing=missing_bucket)
        return [
            "submit",
            str(text_file),
            *spec.voice(*reference_clip, clips),
            "--out",
            out,
            *spec.extra,
        ], missing_bucket

    args = {case: arguments(number, case) for number, case in enumerate(PRODUCER_CASES)}
    started = {case: start_narrate(args[case][0], env) for case in AS_PROCESSES}
    results = {case: narrate_here(args[case][0], env) for case in PRODUCER_CASES if case not in started}
    results |= {case: finish(process) for case, process in started.items()}
    return {case: Refusal(result=results[case], bucket=buckets[case], missing_bucket=args[case][1]) for case in args}


@pytest.mark.parametrize("case", list(PRODUCER_CASES))
def test_producer_refuses_bad_input(
    case: str, refusals: dict[str, Refusal], stack: LocalStack, stack_env: dict[str, str]
) -> None:
    spec, refusal = PRODUCER_CASES[case], refusals[case]
    client = redis.Redis.from_url(stack.redis.url)  # type: ignore[union-attr]
    result = refusal.result

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert spec.message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert bucket_keys(refusal.bucket) == [], "something was uploaded"
    assert not bucket_exists(refusal.missing_bucket)
    assert list(client.scan_iter(match="narrate:*")) == [], "a job was recorded"
    assert client.llen(QUEUE) == 0, "a job was enqueued"


# (clip and transcript, the warning expected or None)
TRANSCRIPT_FITS: dict[str, tuple[Callable[[Clips, tuple[Path, str]], tuple[Path, str]], str | None]] = {
    "3 words for a 20 s clip": (lambda k, ref: (k.twenty_seconds, "Hello there, friend."), "3 words for a 20.0 s clip"),
    "400 words for a 2 s clip": (
        lambda k, ref: (k.two_seconds, " ".join(["word"] * 400)),
        "400 words for a 2.0 s clip",
    ),
    "the clip's own transcript": (lambda k, ref: ref, None),
}


@pytest.fixture(scope="module")
def fits(
    worker: Service,
    stack: LocalStack,
    reference_clip: tuple[Path, str],
    clips: Clips,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every case's `narrate submit --wait`, each a process of its own with a bucket of its own."""
    cases = list(TRANSCRIPT_FITS)
    buckets = own_buckets(stack, cases)
    folder = tmp_path_factory.mktemp("fits")

    def submit(number: int) -> subprocess.CompletedProcess[str]:
        clip, transcript = TRANSCRIPT_FITS[cases[number]][0](clips, reference_clip)
        text_file = folder / str(number) / "chapter.txt"
        text_file.parent.mkdir()
        text_file.write_text("A short chapter.", encoding="utf-8")
        out = f"s3://{buckets[cases[number]]}/w"
        return narrate(["submit", str(text_file), *_voice(clip, transcript), "--out", out, "--wait"], stack.env())

    return run_cases(cases, submit)


@pytest.mark.parametrize("case", list(TRANSCRIPT_FITS))
def test_producer_warns_when_the_transcript_cannot_be_the_clips(
    case: str, fits: dict[str, subprocess.CompletedProcess[str]]
) -> None:
    warning, result = TRANSCRIPT_FITS[case][1], fits[case]

    # A warning, not a refusal: the job is still rendered.
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "succeeded" in result.stdout
    if warning is None:
        assert "words/s" not in result.stderr, result.stderr
    else:
        assert warning in result.stderr and "words/s" in result.stderr, result.stderr


# ---------------------------------------------------------------------------------------------
# Worker: raw messages from any Celery client


@dataclass(frozen=True)
class WorkerCase:
    build: Callable[[Raw], dict[str, Any]]  # a bad job; may upload what it needs first
    error: str


def _uploaded(raw: Raw, data: bytes, *, claimed_sha: str | None = None) -> dict[str, Any]:
    """`data` stored at refs/<sha>.wav; the message may claim another sha256 for it."""
    clip = clip_ref(data)
    Storage().put(raw.bucket, clip["key"], data, content_type="audio/wav")
    return {**clip, "sha256": claimed_sha or clip["sha256"]}


def _without(job: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: v for k, v in job.items() if k != field}


WORKER_CASES: dict[str, WorkerCase] = {
    "wrong schema version": WorkerCase(lambda r: {**r.job(), "schema_version": 2}, "schema_version 2 is not supported"),
    "schema version as a string": WorkerCase(
        lambda r: {**r.job(), "schema_version": "1"}, "schema_version must be the number 1, not the string '1'"
    ),
    "missing field text": WorkerCase(lambda r: _without(r.job(), "text"), "text: Field required"),
    "missing field output": WorkerCase(lambda r: _without(r.job(), "output"), "output: Field required"),
    "unknown field": WorkerCase(lambda r: {**r.job(), "priority": 9}, "priority: Extra inputs are not permitted"),
    "text as a number": WorkerCase(lambda r: {**r.job(), "text": 42}, "text: Input should be a valid string"),
    "voice as a string": WorkerCase(
        lambda r: {**r.job(), "voice": "narrator"}, "voice: Input should be a valid dictionary"
    ),
    "text over NARRATE_MAX_TEXT_BYTES": WorkerCase(
        lambda r: r.job("word " * 500), "2500 bytes, over the limit of 2000 (NARRATE_MAX_TEXT_BYTES)"
    ),
    "message over NARRATE_MAX_MESSAGE_BYTES": WorkerCase(
        lambda r: r.job("word " * 12_000), "over the limit of 50000 (NARRATE_MAX_MESSAGE_BYTES)"
    ),
    "escape sequence in the text": WorkerCase(
        lambda r: r.job("Clear \x1b[2J the screen."), "control character U+001B at character 6"
    ),
    "NUL in the text": WorkerCase(lambda r: r.job("Null\x00terminated."), "control character U+0000"),
    "C1 control in the text": WorkerCase(lambda r: r.job("Next\x85line."), "control character U+0085"),
    "reference_hash of another voice": WorkerCase(
        lambda r: {**r.job(), "voice": {**r.job()["voice"], "reference_hash": "e" * 64}},
        "is not the identity of its clips",
    ),
    "reference missing in S3": WorkerCase(lambda r: with_clip(r.job(), clip_ref(os.urandom(64))), "is missing"),
    "reference that is not audio": WorkerCase(
        lambda r: with_clip(r.job(), _uploaded(r, b"Meeting notes, not a voice. " * 40 + os.urandom(16))),
        "is not usable audio: not decodable audio",
    ),
    "reference that is an image": WorkerCase(
        lambda r: with_clip(r.job(), _uploaded(r, b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + os.urandom(512))),
        "is not usable audio: the file holds no audio stream",
    ),
    "reference altered after upload": WorkerCase(
        lambda r: with_clip(r.job(), _uploaded(r, tone_wav(12), claimed_sha="a" * 64)), "does not match its sha256"
    ),
    "reference of 0.2 s": WorkerCase(
        lambda r: with_clip(r.job(), _uploaded(r, tone_wav(0.2))), "is 0.20 s; at least 1 s"
    ),
    "reference of 10 minutes": WorkerCase(
        lambda r: with_clip(r.job(), _uploaded(r, tone_wav(600))), "is 600 s; at most 120 s"
    ),
    "clip key outside refs/": WorkerCase(
        lambda r: with_clip(r.job(), {**clip_ref(b"x"), "key": "refs/../private/secret.wav"}),
        "clips.0.key: Value error",
    ),
    "prefix with ..": WorkerCase(
        lambda r: with_output(r.job(), prefix="books/../../etc"), "contains a '..' or '.' segment"
    ),
    "absolute prefix": WorkerCase(lambda r: with_output(r.job(), prefix="/etc/cron.d"), "must be relative"),
    "percent-encoded traversal": WorkerCase(
        lambda r: with_output(r.job(), prefix="%2e%2e/%2e%2e/etc"), "percent-encoding is not allowed"
    ),
    "control character in prefix": WorkerCase(
        lambda r: with_output(r.job(), prefix="books\x1b[2J"), "contains control characters"
    ),
    "bucket does not exist": WorkerCase(
        lambda r: with_output(r.job(), bucket=f"no-such-bucket-{uuid.uuid4().hex[:12]}"), "the bucket does not exist"
    ),
    "unsupported format flac": WorkerCase(
        lambda r: with_output(r.job(), format="flac"), "output.format: Input should be 'mp3', 'wav' or 'opus'"
    ),
    "sample_rate field": WorkerCase(
        lambda r: with_output(r.job(), sample_rate=44100), "output.sample_rate: Extra inputs are not permitted"
    ),
}


@dataclass(frozen=True)
class Sent:
    """A case's bad job, in a bucket of its own, and the good job sent straight after it (to another bucket)."""

    raw: Raw  # the bad job's bucket
    bad: dict[str, Any]
    after: Raw  # the good jobs' bucket
    good: dict[str, Any]


@pytest.fixture(scope="module")
def sent(worker: Service, stack: LocalStack, reference_clip: tuple[Path, str]) -> dict[str, Sent]:
    """Every case's bad job, each followed by a good one, sent at once and waited for: the worker (one process,
    one message at a time) takes them in the order sent, so each good job comes straight after its bad one, and
    the round trips of sending a job and waiting for it do not add up case after case."""
    cases = list(WORKER_CASES)
    buckets = own_buckets(stack, [*cases, "after"])
    with pytest.MonkeyPatch.context() as env:
        for name, value in stack.env().items():
            env.setenv(name, value)
        after = raw_in(stack, buckets["after"], reference_clip)
        sent = {}
        for case in cases:
            raw = raw_in(stack, buckets[case], reference_clip)
            sent[case] = Sent(raw=raw, bad=WORKER_CASES[case].build(raw), after=after, good=after.job(prefix="after"))
        for one in sent.values():
            one.raw.send(one.bad)
            one.after.send(one.good)
        for one in sent.values():
            one.raw.finished(one.bad["job_id"])
            one.after.finished(one.good["job_id"])
    return sent


@pytest.mark.parametrize("case", list(WORKER_CASES))
def test_worker_fails_the_job_and_keeps_serving(
    case: str, worker: Service, sent: dict[str, Sent], stack_env: dict[str, str]
) -> None:
    raw, job = sent[case].raw, sent[case].bad

    record = raw.finished(job["job_id"])
    assert record.state == "failed", record
    assert WORKER_CASES[case].error in record.error, record.error
    # Handled by the task (and acknowledged), not a crash left for redelivery.
    wait_for_log(worker, f"narrate.render[{job['job_id']}] succeeded")
    output = job.get("output") if isinstance(job.get("output"), dict) else {}
    out_bucket, prefix, fmt = (
        output.get("bucket", raw.bucket),
        str(output.get("prefix", "")),
        str(output.get("format", "wav")),
    )
    if out_bucket == raw.bucket:
        assert [k for k in bucket_keys(raw.bucket) if not k.startswith("refs/")] == [], "an output was written"
        assert not Storage().exists(raw.bucket, keys.output_audio(prefix, job["job_id"], fmt))
        assert not Storage().exists(raw.bucket, keys.output_manifest(prefix, job["job_id"]))
    else:
        assert not bucket_exists(out_bucket), "the worker created a bucket"
    # The good job sent straight after the bad one was rendered by the same worker, which is still running.
    good = sent[case].after.finished(sent[case].good["job_id"])
    assert good.state == "succeeded", good
    assert Storage().exists(sent[case].after.bucket, keys.output_manifest("after", good.job_id))
    assert worker.alive(), worker.log_tail()


class _RunsAShellCommand:
    """Unpickling this runs a command: what an attacker with broker access would send."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[Callable[[str], int], tuple[str]]:
        return (os.system, (self.command,))


def test_a_pickled_message_is_refused_never_run_and_the_worker_keeps_serving(
    worker: Service, raw: Raw, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    task_id = uuid.uuid4().hex
    message = json.loads(celery_message({}, task_id=task_id))
    message |= {
        "body": base64.b64encode(pickle.dumps(_RunsAShellCommand(f"touch {marker}"))).decode(),
        "content-type": "application/x-python-serialize",
        "content-encoding": "binary",
    }
    raw.redis.lpush(QUEUE, json.dumps(message))

    deadline = time.monotonic() + 30
    while raw.redis.llen(QUEUE) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert raw.redis.llen(QUEUE) == 0, "the worker never took the message"
    wait_for_log(worker, "untrusted content")
    assert not marker.exists(), "the pickled payload was executed"
    assert raw.store.get(task_id) is None
    assert_keeps_serving(raw, worker)


def test_a_wrong_fish_key_fails_the_job_once_without_leaking_the_key(
    worker: Service, stack: LocalStack, raw: Raw, emulator: EmulatorControl
) -> None:
    wrong = stack.add_worker(
        concurrency=1, extra_env={**WORKER_ENV, "FISH_API_KEY": "wrong-key"}, extra_args=["-Q", WRONG_KEY_QUEUE]
    )
    try:
        for sent in (1, 2):  # the second job shows the worker still takes work after a 401
            job = raw.job(prefix="bad-auth")
            raw.send(job, queue=WRONG_KEY_QUEUE)
            record = raw.finished(job["job_id"])
            assert record.state == "failed", record
            assert "401" in record.error and "FISH_API_KEY" in record.error, record.error
            assert "wrong-key" not in record.error
            assert record.attempts == 1
            assert emulator.stats()["tts_requests"] == sent, "a 401 must not be retried"
            assert not Storage().exists(raw.bucket, keys.output_audio("bad-auth", job["job_id"], "wav"))
            assert not Storage().exists(raw.bucket, keys.output_manifest("bad-auth", job["job_id"]))
            assert wrong.alive(), wrong.log_tail()
        assert "wrong-key" not in wrong.log_path.read_text(errors="replace")
    finally:
        stop_all([wrong], kill=True)  # its part is over: its log was read above
        stack.services.remove(wrong)
    # The rest of the fleet, with the right key, is unaffected.
    assert_keeps_serving(raw, worker)
