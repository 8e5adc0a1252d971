"""Our Fish adapter's speech-to-text through the real SDK against the emulator: a take heard word by word, billed
per second, under the same slot, breaker and error rules as TTS, and audio Fish does not take refused unasked."""

from __future__ import annotations

import io
import math
import wave

import pytest
import redis

from producer.dev.stack import LocalStack
from tests.conftest import EmulatorControl
from tests.integration.test_limiter import CountingLimiter, hold_in_thread
from worker.audio import codec
from worker.errors import CannotHear, FishRejected, FishUnavailable
from worker.fish.breaker import BreakerOpen, CreditBreaker
from worker.fish.client import FishClient
from worker.fish.heard import Heard
from worker.fish.limiter import SlotUnavailable
from worker.observability import metrics
from worker.settings import Settings

PARAGRAPH = (
    '"You are late," said Marguerite. The train had left the station an hour before. '
    "Nobody on the platform had seen the conductor."
)


@pytest.fixture
def fish(stack_env: dict[str, str], emulator: EmulatorControl) -> FishClient:
    return FishClient(Settings())


@pytest.fixture(scope="module")
def take(stack: LocalStack) -> tuple[bytes, float]:
    """One clean TTS take of PARAGRAPH from the emulator, and its length in seconds, made once for the module."""
    EmulatorControl(stack.emulator.url).reset()  # type: ignore[union-attr]
    with pytest.MonkeyPatch.context() as env:
        for name, value in stack.env().items():
            env.setenv(name, value)
        client = FishClient(Settings())
        audio = client.synthesize(text=PARAGRAPH, fmt="wav").audio
        client.close()
    return audio, codec.probe(audio).duration_seconds


def asr_requests(emulator: EmulatorControl) -> list[dict]:
    return [entry for entry in emulator.requests() if entry["kind"] == "asr"]


def counted(counter: object, **labels: str) -> float:
    """The counter's total (over the samples with these labels) in this process."""
    return sum(
        sample.value
        for family in counter.collect()  # type: ignore[attr-defined]
        for sample in family.samples
        if sample.name.endswith("_total") and labels.items() <= sample.labels.items()
    )


def silence(seconds: float, rate: int = 16_000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\0\0" * int(seconds * rate))
    return buffer.getvalue()


def test_a_take_is_heard_word_by_word_with_times_in_order_and_billed_per_second(
    fish: FishClient, emulator: EmulatorControl, take: tuple[bytes, float]
) -> None:
    audio, seconds = take
    before = [counted(metrics.ASR_REQUESTS, outcome="ok"), counted(metrics.ASR_AUDIO_SECONDS)]
    spent = counted(metrics.ASR_SPEND)

    heard = fish.transcribe(audio, language="en", audio_seconds=seconds)

    assert heard.text.split() == PARAGRAPH.split()
    assert [text for text, _, _ in heard.words] == PARAGRAPH.split()
    starts = [start for _, start, _ in heard.words]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(0 <= start < end <= seconds for _, start, end in heard.words)
    assert heard.seconds_billed == math.ceil(seconds) and heard.audio_seconds == seconds
    assert heard.latency_seconds > 0 and Heard.from_json(heard.to_json()) == heard
    [asked] = asr_requests(emulator)
    assert asked["status"] == 200 and asked["seconds_billed"] == heard.seconds_billed
    assert asked["settings"] == {"language": "en", "ignore_timestamps": False}
    after = [counted(metrics.ASR_REQUESTS, outcome="ok"), counted(metrics.ASR_AUDIO_SECONDS)]
    assert after == [before[0] + 1, before[1] + heard.seconds_billed]
    assert counted(metrics.ASR_SPEND) - spent == pytest.approx(heard.seconds_billed / 3600 * 0.36)


def test_no_language_lets_fish_detect_it(fish: FishClient, emulator: EmulatorControl, take) -> None:
    audio, seconds = take
    fish.transcribe(audio, language=None, audio_seconds=seconds)
    fish.transcribe(audio, language="fr", audio_seconds=seconds)
    assert [entry["settings"]["language"] for entry in asr_requests(emulator)] == [None, "fr"]


def test_a_429_is_transient_and_the_next_try_is_heard(fish: FishClient, emulator: EmulatorControl, take) -> None:
    audio, seconds = take
    limited = counted(metrics.ASR_REQUESTS, outcome="rate_limited")
    emulator.control(fail_status=429, fail_count=1)
    with pytest.raises(FishUnavailable, match="429") as busy:
        fish.transcribe(audio, language="en", audio_seconds=seconds)
    assert busy.value.cause == "rate_limited"
    assert counted(metrics.ASR_REQUESTS, outcome="rate_limited") == limited + 1
    assert fish.transcribe(audio, language="en", audio_seconds=seconds).text.split() == PARAGRAPH.split()
    assert [entry["status"] for entry in asr_requests(emulator)] == [429, 200]


def test_a_wrong_key_is_permanent_with_the_hint_and_without_the_key(
    stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, take
) -> None:
    audio, seconds = take
    monkeypatch.setenv("FISH_API_KEY", "wrong-key-123456")
    with pytest.raises(FishRejected) as refused:
        FishClient(Settings()).transcribe(audio, language="en", audio_seconds=seconds)
    assert refused.value.status == 401
    assert "FISH_API_KEY" in str(refused.value) and "wrong-key-123456" not in str(refused.value)


def test_a_402_opens_the_breaker_and_the_next_take_asks_nothing(
    stack_env: dict[str, str], emulator: EmulatorControl, redis_client: redis.Redis, take
) -> None:
    audio, seconds = take
    breaker = CreditBreaker(redis_client)
    fish = FishClient(Settings(), breaker=breaker)
    emulator.control(credit="0")
    with pytest.raises(BreakerOpen, match="credit"):
        fish.transcribe(audio, language="en", audio_seconds=seconds)
    assert breaker.status() is not None
    with pytest.raises(BreakerOpen):
        fish.transcribe(audio, language="en", audio_seconds=seconds)
    assert [entry["status"] for entry in asr_requests(emulator)] == [402]


def test_hearing_takes_a_cluster_slot_like_synthesis(
    stack_env: dict[str, str], emulator: EmulatorControl, redis_client: redis.Redis, take
) -> None:
    audio, seconds = take
    limiter = CountingLimiter(redis_client, limit=1, lease_seconds=5.0, wait_seconds=0.3)
    fish = FishClient(Settings(), limiter=limiter)
    holder, _ = hold_in_thread(fish.slot, seconds=1.0)
    with pytest.raises(SlotUnavailable):
        fish.transcribe(audio, language="en", audio_seconds=seconds)
    holder.join()
    assert asr_requests(emulator) == [], "no request went out without a slot"
    fish.transcribe(audio, language="en", audio_seconds=seconds)
    assert limiter.taken == 2 and len(asr_requests(emulator)) == 1


def test_half_a_second_is_refused_before_any_request_or_slot(
    stack_env: dict[str, str], emulator: EmulatorControl, redis_client: redis.Redis
) -> None:
    limiter = CountingLimiter(redis_client, limit=1, lease_seconds=5.0, wait_seconds=0.3)
    fish = FishClient(Settings(), limiter=limiter)
    requests = counted(metrics.ASR_REQUESTS)
    with pytest.raises(CannotHear, match="cannot hear 0.50 s of audio: .* at least 1 s"):
        fish.transcribe(silence(0.5), language="en", audio_seconds=0.5)
    assert emulator.requests() == [] and limiter.taken == 0
    assert counted(metrics.ASR_REQUESTS) == requests
