"""Promotion end to end: real worker processes, the real SDK, the emulator's own record of what it got."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from fishaudio import FishAudio
from rich.console import Console
from typer.testing import CliRunner

from producer.cli import progress
from producer.cli.main import app
from producer.dev.services import Service, stop_all
from producer.dev.stack import LocalStack
from producer.readers.text import TextSource
from producer.submit.clips import ClipInput, PreparedVoice, prepare_clip_voice
from producer.submit.jobs import Submitter
from tests.conftest import EmulatorControl
from worker import keys
from worker.jobs.records import JobRecord, JobStore
from worker.settings import Settings
from worker.voices.registry import Registry

pytestmark = pytest.mark.e2e
runner = CliRunner()
FAST = {
    "NARRATE_PROMOTE_POLL_SECONDS": "0.2",
    "NARRATE_PROMOTE_RETRY_SECONDS": "1",
    "NARRATE_PROMOTE_MAX_ATTEMPTS": "2",
    "NARRATE_RETRY_BASE_SECONDS": "0.2",
}


@pytest.fixture
def fish_sdk(stack: LocalStack) -> FishAudio:
    return FishAudio(api_key=stack.env()["FISH_API_KEY"], base_url=stack.emulator.url)  # type: ignore[union-attr]


@pytest.fixture
def clean(stack: LocalStack, emulator: EmulatorControl, fish_sdk: FishAudio) -> None:
    """No jobs, registry entries or Fish voices left from other tests."""
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]
    for voice in fish_sdk.voices.list(page_size=100, self_only=True).items:
        fish_sdk.voices.delete(voice.id)
    emulator.reset()


@pytest.fixture
def start_workers(stack: LocalStack, clean: None) -> Iterator[Callable[..., list[Service]]]:
    started: list[Service] = []

    def start(*, promote_after: str, count: int = 1, concurrency: int = 2, **extra: str) -> list[Service]:
        env = {**FAST, "NARRATE_PROMOTE_AFTER": promote_after, **extra}
        started.extend(stack.add_workers(count, concurrency=concurrency, extra_env=env))
        return started

    yield start
    stop_all(started, kill=True)  # the test is over: nothing to finish
    for service in started:
        stack.services.remove(service)


@pytest.fixture(scope="class")
def first_use_worker(stack: LocalStack) -> Iterator[Service]:
    """A worker promoting at first use, shared by the tests of a class (outside a class it lasts one test)."""
    [service] = stack.add_workers(1, extra_env={**FAST, "NARRATE_PROMOTE_AFTER": "0"})
    yield service
    stop_all([service], kill=True)  # the class is over: nothing to finish
    stack.services.remove(service)


@pytest.fixture
def promoting_at_first_use(first_use_worker: Service, clean: None) -> Service:
    """The class's worker, for a test that finds Redis, the emulator and the Fish voices clean."""
    return first_use_worker


@pytest.fixture
def submitter(stack_env: dict[str, str]) -> Submitter:
    return Submitter.from_settings(Settings())


@pytest.fixture
def registry(stack: LocalStack) -> Registry:
    return Registry.from_url(stack.redis.url)  # type: ignore[union-attr]


@pytest.fixture
def voice(reference_clip) -> PreparedVoice:
    return prepare_clip_voice([ClipInput(*reference_clip)])


def render(submitter: Submitter, texts: list[str], voice, bucket: str) -> list[JobRecord]:  # noqa: ANN001
    jobs = submitter.submit(
        sources=[TextSource(f"part-{i}.txt", t) for i, t in enumerate(texts)], voice=voice, out=f"s3://{bucket}/p"
    )
    store = JobStore.from_url(Settings().broker_url)
    records = progress.wait_for(
        store, [j.job_id for j in jobs], console=Console(file=io.StringIO()), timeout=120, poll_seconds=0.1
    )
    assert [r.state for r in records] == ["succeeded"] * len(texts), [r.error for r in records]
    return records


def wait_state(registry: Registry, reference_hash: str, states: set[str], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        entry = registry.get(reference_hash) or {}
        if entry.get("state") in states:
            return entry
        time.sleep(0.1)
    raise AssertionError(f"reference never reached {states}: {registry.get(reference_hash)}")


def modes(emulator: EmulatorControl) -> list[str]:
    return [r["mode"] for r in emulator.requests() if r["status"] == 200 and r["kind"] == "tts"]


def test_exact_threshold_then_only_the_voice_id(start_workers, submitter, registry, voice, bucket, emulator) -> None:
    start_workers(promote_after="3")
    for n in range(1, 4):
        render(submitter, [f"Sentence number {n}."], voice, bucket)
        assert registry.get(voice.reference_hash)["state"] == "one_shot"
    render(submitter, ["Sentence number four."], voice, bucket)
    entry = wait_state(registry, voice.reference_hash, {"trained"})
    records = render(submitter, ["Five.", "Six."], voice, bucket)

    assert modes(emulator) == ["one_shot"] * 4 + ["reference_id"] * 2
    assert emulator.stats()["models_created"] == 1
    ids = {r["reference_id"] for r in emulator.requests()[4:]}
    assert ids == {entry["model_id"]}
    assert all(r.voice_mode == "reference_id" for r in records)
    model = emulator.model(entry["model_id"])
    assert model["visibility"] == "private"
    assert keys.fish_voice_tag(voice.reference_hash) in model["tags"]
    assert [s["text"] for s in model["samples"]] == [voice.clips[0].transcript]
    after = registry.get(voice.reference_hash)
    # saved: what each of the two id-only requests would have carried, as one-shot requests really sent it (FLAC)
    [wire] = {r["reference_bytes"] for r in emulator.requests() if r["mode"] == "one_shot"}
    assert wire < len(voice.clips[0].data) and after["bytes_saved"] == 2 * wire


def test_thirty_jobs_racing_past_n_create_exactly_one_voice(
    start_workers, submitter, registry, voice, bucket, emulator
) -> None:
    start_workers(promote_after="1", count=2, concurrency=3)
    render(submitter, [f"Racing job number {n}." for n in range(30)], voice, bucket)
    wait_state(registry, voice.reference_hash, {"trained"})
    assert emulator.stats()["models_created"] == 1
    assert registry.get(voice.reference_hash)["uses"] == 30


def test_renders_go_one_shot_once_a_slow_training_outlasts_the_wait(
    start_workers, submitter, registry, voice, bucket, emulator
) -> None:
    emulator.control(train_seconds=4)
    start_workers(promote_after="0", NARRATE_PROMOTE_WAIT_SECONDS="1")
    render(submitter, ["The first job starts the promotion."], voice, bucket)
    wait_state(registry, voice.reference_hash, {"training"})
    render(submitter, ["Still training.", "Still one-shot."], voice, bucket)
    assert registry.get(voice.reference_hash)["state"] == "training"
    wait_state(registry, voice.reference_hash, {"trained"})
    render(submitter, ["Now the trained voice."], voice, bucket)
    assert modes(emulator) == ["one_shot"] * 3 + ["reference_id"]


class TestPromotingAtFirstUse:
    """One worker promoting at first use (NARRATE_PROMOTE_AFTER=0) for the class; each test's `clean` leaves it no
    jobs, registry entries or Fish voices of the others."""

    def test_renders_wait_for_a_fast_training_instead_of_sending_the_clips(
        self, promoting_at_first_use, submitter, registry, voice, bucket, emulator
    ) -> None:
        emulator.control(train_seconds=2)  # the worker's default wait (30 s) outlasts this training
        render(submitter, ["The first job starts the promotion."], voice, bucket)
        wait_state(registry, voice.reference_hash, {"training"})
        render(submitter, ["Waits for the voice.", "So does this one."], voice, bucket)
        assert modes(emulator) == ["one_shot", "reference_id", "reference_id"]
        entry = registry.get(voice.reference_hash)
        assert entry["state"] == "trained" and entry["uses"] == 3 and entry["one_shot_uses"] == 1

    def test_failed_training_keeps_jobs_one_shot_and_retries_a_bounded_number_of_times(
        self, promoting_at_first_use, submitter, registry, voice, bucket, emulator
    ) -> None:
        emulator.control(fail_training=True)
        render(submitter, ["First."], voice, bucket)
        failed = wait_state(registry, voice.reference_hash, {"failed"})
        assert "failed training" in failed["reason"] and "retry after" in failed["reason"]
        render(submitter, ["Too soon to retry."], voice, bucket)  # within the back-off: no new attempt
        assert emulator.stats()["models_created"] == 1
        time.sleep(1.2)
        render(submitter, ["After the back-off."], voice, bucket)
        final = wait_state(registry, voice.reference_hash, {"failed"}, timeout=30)
        deadline = time.monotonic() + 10
        while "gave up" not in final["reason"] and time.monotonic() < deadline:
            time.sleep(0.1)
            final = registry.get(voice.reference_hash)
        assert "gave up after 2 attempts" in final["reason"]
        time.sleep(2.5)
        render(submitter, ["No more attempts."], voice, bucket)
        stats = emulator.stats()
        assert stats["models_created"] == 2 and stats["models_deleted"] == 2, "failed voices are cleaned up"
        assert modes(emulator) == ["one_shot"] * 4

    def test_a_voice_deleted_out_of_band_falls_back_and_is_promoted_again(
        self, promoting_at_first_use, submitter, registry, voice, bucket, emulator, fish_sdk
    ) -> None:
        render(submitter, ["Promote me."], voice, bucket)
        first = wait_state(registry, voice.reference_hash, {"trained"})["model_id"]
        fish_sdk.voices.delete(first)  # someone deletes it in the dashboard
        render(submitter, ["The voice is gone, the job still succeeds."], voice, bucket)
        dropped = registry.get(voice.reference_hash)
        assert dropped["state"] == "one_shot" and "model_id" not in dropped
        assert f"the Fish voice {first} was not found" in dropped["reason"]
        render(submitter, ["The next use promotes it again."], voice, bucket)
        entry = wait_state(registry, voice.reference_hash, {"trained"})
        assert entry["model_id"] != first
        log = emulator.requests()
        gone = [r for r in log if r["reference_id"] == first and r["status"] == 400]
        assert len(gone) == 1
        assert log[log.index(gone[0]) + 1]["mode"] == "one_shot", "retried one-shot at once"
        assert emulator.stats()["models_created"] == 2

    def test_a_wiped_registry_is_relinked_without_a_second_voice(
        self, promoting_at_first_use, submitter, registry, voice, bucket, emulator, stack
    ) -> None:
        render(submitter, ["Promote me."], voice, bucket)
        model_id = wait_state(registry, voice.reference_hash, {"trained"})["model_id"]
        client = redis.Redis.from_url(stack.redis.url)
        client.delete(keys.reference_entry(voice.reference_hash), keys.reference_index())

        result = runner.invoke(app, ["voices", "sync", "--json"])
        assert result.exit_code == 0, result.output
        assert voice.reference_hash in json.loads(result.output)["linked"]
        assert registry.get(voice.reference_hash)["model_id"] == model_id
        render(submitter, ["Straight to the voice id."], voice, bucket)
        assert modes(emulator)[-1] == "reference_id"

        # Without sync, the promotion itself looks for the tag before creating.
        client.delete(keys.reference_entry(voice.reference_hash), keys.reference_index())
        render(submitter, ["A use that re-claims promotion."], voice, bucket)
        assert wait_state(registry, voice.reference_hash, {"trained"})["model_id"] == model_id
        assert emulator.stats()["models_created"] == 1

    def test_gc_is_a_dry_run_unless_applied(
        self, promoting_at_first_use, submitter, registry, voice, bucket, emulator
    ) -> None:
        render(submitter, ["Promote me."], voice, bucket)
        model_id = wait_state(registry, voice.reference_hash, {"trained"})["model_id"]

        dry = runner.invoke(app, ["voices", "gc", "--unused-days", "0", "--json"])
        assert dry.exit_code == 0, dry.output
        assert [v["model_id"] for v in json.loads(dry.output)["voices"]] == [model_id]
        assert emulator.stats()["models_deleted"] == 0
        assert runner.invoke(app, ["voices", "gc", "--unused-days", "30", "--json"]).output.count(model_id) == 0

        applied = runner.invoke(app, ["voices", "gc", "--unused-days", "0", "--apply"])
        assert applied.exit_code == 0 and f"deleted {model_id}" in applied.output
        assert emulator.stats()["models_deleted"] == 1
        entry = registry.get(voice.reference_hash)
        assert entry["state"] == "one_shot" and "model_id" not in entry and entry["uses"] == 0

    def test_promotion_reads_voice_answers_the_sdk_model_rejects(
        self, promoting_at_first_use, submitter, registry, voice, bucket, emulator
    ) -> None:
        emulator.control(quirky_train_mode=True)  # answers carry train_mode "full", which the SDK's Voice refuses
        render(submitter, ["Promote me despite the odd answer."], voice, bucket)
        entry = wait_state(registry, voice.reference_hash, {"trained"})
        assert emulator.model(entry["model_id"])["train_mode"] == "full"
        render(submitter, ["Now by id."], voice, bucket)
        assert modes(emulator)[-1] == "reference_id"
        assert emulator.stats()["models_created"] == 1


def test_named_voice_of_two_clips_is_used_and_promoted_whole(
    start_workers, submitter, registry, reference_clip, short_clip, bucket, emulator, stack_env
) -> None:
    start_workers(promote_after="off")
    (clip_a, text_a), (clip_b, text_b) = reference_clip, short_clip
    added = runner.invoke(
        app,
        [
            "voices",
            "add",
            "narrator",
            "--clip",
            str(clip_a),
            "--transcript",
            text_a,
            "--clip",
            str(clip_b),
            "--transcript",
            text_b,
            "--bucket",
            f"s3://{bucket}",
        ],
    )
    assert added.exit_code == 0, added.output
    submitted = runner.invoke(
        app,
        ["submit", "-", "--voice", "narrator", "--out", f"s3://{bucket}/named", "--wait"],
        input="Two clips, one voice.",
    )
    assert submitted.exit_code == 0, submitted.output
    [seen] = emulator.requests()
    assert seen["mode"] == "one_shot" and seen["reference_texts"] == [text_a, text_b]

    promoted = runner.invoke(app, ["voices", "promote", "narrator", "--wait", "--timeout", "30"])
    assert promoted.exit_code == 0, promoted.output
    entry = registry.get(registry.all_hashes()[0])
    model = emulator.model(entry["model_id"])
    assert [s["text"] for s in model["samples"]] == [text_a, text_b]
    assert model["title"] == "narrator"

    updated = runner.invoke(app, ["voices", "update", "narrator", "--title", "Narrator (en)", "--tags", "english,calm"])
    assert updated.exit_code == 0, updated.output
    model = emulator.model(entry["model_id"])
    assert model["title"] == "Narrator (en)"
    assert set(model["tags"]) == {"english", "calm", keys.fish_voice_tag(entry["reference_hash"])}

    demoted = runner.invoke(app, ["voices", "demote", "narrator", "--delete"])
    assert demoted.exit_code == 0 and emulator.stats()["models_deleted"] == 1
    assert registry.get(entry["reference_hash"])["state"] == "demoted"
    assert runner.invoke(app, ["voices", "delete", "narrator"]).exit_code == 0
    assert registry.all_hashes() == []
    listed = runner.invoke(app, ["voices", "list", "--json"])
    assert json.loads(listed.output) == []


def test_same_clip_with_another_transcript_is_another_reference(
    start_workers, submitter, registry, reference_clip, short_clip, bucket
) -> None:
    start_workers(promote_after="1")
    clip, transcript = reference_clip
    first = prepare_clip_voice([ClipInput(clip, transcript)])
    other_words = prepare_clip_voice([ClipInput(clip, transcript.replace("welcome", "farewell"))])
    other_clip = prepare_clip_voice([ClipInput(*short_clip)])
    assert len({first.reference_hash, other_words.reference_hash, other_clip.reference_hash}) == 3
    render(submitter, ["One.", "Two."], first, bucket)
    render(submitter, ["Three."], other_words, bucket)
    render(submitter, ["Four."], other_clip, bucket)
    assert registry.get(first.reference_hash)["uses"] == 2
    wait_state(registry, first.reference_hash, {"trained"})
    for untouched in (other_words, other_clip):
        entry = registry.get(untouched.reference_hash)
        assert entry["uses"] == 1 and entry["state"] == "one_shot"


def test_training_that_takes_too_long_counts_as_failed(
    start_workers, submitter, registry, voice, bucket, emulator
) -> None:
    emulator.control(train_seconds=60)
    start_workers(promote_after="0", NARRATE_PROMOTE_TIMEOUT_SECONDS="1")
    render(submitter, ["Slow training."], voice, bucket)
    failed = wait_state(registry, voice.reference_hash, {"failed"})
    assert "still" in failed["reason"] and "after 1 s" in failed["reason"]
    assert emulator.stats()["models_deleted"] == 1


def test_a_voice_that_vanishes_while_training_is_a_bounded_failed_attempt(
    start_workers, submitter, registry, voice, bucket, emulator, fish_sdk
) -> None:
    emulator.control(train_seconds=30)
    start_workers(promote_after="0", NARRATE_PROMOTE_RETRY_SECONDS="60")
    render(submitter, ["Start training."], voice, bucket)
    training = wait_state(registry, voice.reference_hash, {"training"})
    fish_sdk.voices.delete(training["model_id"])
    failed = wait_state(registry, voice.reference_hash, {"failed"})
    assert "disappeared during training" in failed["reason"] and "retry after" in failed["reason"]
    render(submitter, ["Within the back-off: no new voice."], voice, bucket)
    assert emulator.stats()["models_created"] == 1
