"""Our Fish adapter, through the real SDK over HTTP, against the emulator."""

import pytest

from tests.conftest import EmulatorControl
from worker.audio import codec
from worker.contract import Synthesis
from worker.errors import FishRejected, FishUnavailable, PermanentError, VoiceNotFound
from worker.fish.client import FishClient
from worker.settings import Settings


@pytest.fixture
def fish(stack_env: dict[str, str], emulator: EmulatorControl) -> FishClient:
    return FishClient(Settings())


def test_one_shot_sends_the_clip_and_exact_transcript(
    fish: FishClient, emulator: EmulatorControl, reference_clip
) -> None:
    path, transcript = reference_clip
    clip = path.read_bytes()
    speech = fish.synthesize(text="A sentence to speak.", fmt="wav", references=[(clip, transcript)])
    assert codec.probe(speech.audio).duration_seconds > 0.5
    assert speech.reference_bytes_sent == len(clip)
    [seen] = emulator.requests()
    assert seen["mode"] == "one_shot"
    assert seen["reference_texts"] == [transcript]
    assert seen["model_header"] == "s2-pro"


def test_synthesis_settings_reach_fish_and_unset_ones_stay_the_apis(
    fish: FishClient, emulator: EmulatorControl
) -> None:
    settings = Synthesis(latency="normal", speed=1.25, temperature=0.4, top_p=0.6, normalize=False, sample_rate=44_100)
    speech = fish.synthesize(text="A sentence at a brisker pace.", fmt="wav", synthesis=settings)
    assert codec.probe(speech.audio).sample_rate == 44_100
    slower = fish.synthesize(text="A sentence at a brisker pace.", fmt="wav", synthesis=Synthesis(speed=0.75))
    assert codec.probe(slower.audio).duration_seconds > codec.probe(speech.audio).duration_seconds
    first, second = emulator.requests()[-2:]
    assert first["settings"] == {
        "latency": "normal",
        "speed": 1.25,
        "temperature": 0.4,
        "top_p": 0.6,
        "normalize": False,
        "sample_rate": 44_100,
    }
    assert second["settings"]["speed"] == 0.75 and second["settings"]["sample_rate"] is None


def test_the_configured_model_is_always_sent(stack_env: dict[str, str], emulator: EmulatorControl, monkeypatch) -> None:
    monkeypatch.setenv("NARRATE_FISH_MODEL", "s1")
    FishClient(Settings()).synthesize(text="Hello.", fmt="mp3")
    assert emulator.requests()[-1]["model_header"] == "s1"


def test_wrong_key_is_a_permanent_error_that_does_not_leak_the_key(stack_env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("FISH_API_KEY", "wrong-key-123456")
    with pytest.raises(FishRejected) as caught:
        FishClient(Settings()).synthesize(text="Hello.", fmt="mp3")
    assert caught.value.status == 401
    assert "FISH_API_KEY" in str(caught.value)
    assert "wrong-key-123456" not in str(caught.value)


def test_unknown_voice_id_is_voice_not_found(fish: FishClient) -> None:
    with pytest.raises(VoiceNotFound, match="deadbeef"):
        fish.synthesize(text="Hello.", fmt="mp3", reference_id="deadbeef")


@pytest.mark.parametrize(
    ("setting", "status"), [({"fail_rate": 1.0}, 500), ({"fail_status": 429, "fail_count": 1}, 429)]
)
def test_busy_or_failing_api_is_transient(
    fish: FishClient, emulator: EmulatorControl, setting: dict, status: int
) -> None:
    emulator.control(**setting)
    with pytest.raises(FishUnavailable, match=str(status)):
        fish.synthesize(text="Hello.", fmt="mp3")


def test_402_is_permanent_with_an_actionable_message(fish: FishClient, emulator: EmulatorControl) -> None:
    emulator.control(fail_status=402, fail_count=1)
    with pytest.raises(FishRejected, match="credit"):
        fish.synthesize(text="Hello.", fmt="mp3")


def test_unreachable_api_is_transient(stack_env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("NARRATE_FISH_BASE_URL", "http://127.0.0.1:9")
    with pytest.raises(FishUnavailable, match="cannot reach"):
        FishClient(Settings()).synthesize(text="Hello.", fmt="mp3")


def test_cloud_without_a_key_is_refused_up_front(monkeypatch) -> None:
    monkeypatch.delenv("FISH_API_KEY", raising=False)
    monkeypatch.delenv("NARRATE_FISH_BASE_URL", raising=False)
    with pytest.raises(PermanentError, match="FISH_API_KEY is not set"):
        FishClient(Settings())
