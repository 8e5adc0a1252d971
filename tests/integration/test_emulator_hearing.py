"""The emulator hears: POST /v1/asr through the real SDK transcribes what the audio carries, faults and all."""

from __future__ import annotations

import io
import random
import wave
from collections.abc import Iterator

import numpy as np
import pytest
from fishaudio import FishAudio
from fishaudio.exceptions import APIError, AuthenticationError, ServerError

from tests.conftest import EmulatorControl

PARAGRAPH = (
    '"You are late," said Marguerite. The train had left the station an hour before. '
    "Nobody on the platform had seen the conductor, and the clock above the door had stopped at nine."
)
TAKE_CONTROLS = {"fault_drop": 0, "fault_repeat": 0, "fault_garble": 0, "fault_cut": 0, "asr_noise": 0}


@pytest.fixture
def fish(emulator: EmulatorControl, stack_env: dict[str, str]) -> Iterator[FishAudio]:
    """The real SDK on the session's emulator, whose take and hearing controls are put back after the test."""
    emulator.control(**TAKE_CONTROLS)
    with FishAudio(api_key=stack_env["FISH_API_KEY"], base_url=emulator.url) as client:
        yield client
    emulator.control(**TAKE_CONTROLS, tone_mode=False, canned_audio=False)


def say(fish: FishAudio, text: str, fmt: str = "wav") -> bytes:
    return fish.tts.convert(text=text, format=fmt)


def heard(fish: FishAudio, audio: bytes) -> list[str]:
    return fish.asr.transcribe(audio=audio, language="en").text.split()


def wav_samples(audio: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(audio)) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2").copy(), reader.getframerate()


def as_wav(samples: np.ndarray, rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.astype("<i2").tobytes())
    return buffer.getvalue()


def tts_entries(emulator: EmulatorControl) -> list[dict]:
    return [e for e in emulator.requests() if e["kind"] == "tts"]


def test_a_clean_take_is_heard_word_for_word_in_order(fish: FishAudio, emulator: EmulatorControl) -> None:
    audio = say(fish, PARAGRAPH)
    answer = fish.asr.transcribe(audio=audio, language="en", include_timestamps=True)

    assert answer.text.split() == PARAGRAPH.split()
    assert [s.text for s in answer.segments] == PARAGRAPH.split()
    samples, rate = wav_samples(audio)
    assert answer.duration == pytest.approx(len(samples) / rate, abs=0.01)  # seconds, as Fish's docs say
    starts = [s.start for s in answer.segments]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    assert all(0 <= s.start < s.end <= answer.duration for s in answer.segments)
    (tts, asr) = emulator.requests()
    assert tts["fault"] is None and asr["kind"] == "asr" and asr["text"] == "" and asr["status"] == 200
    assert asr["heard"] == answer.text and asr["seconds_billed"] == int(np.ceil(answer.duration))
    assert emulator.stats()["asr_seconds_billed"] == asr["seconds_billed"]


@pytest.mark.parametrize("kind", ["drop", "repeat", "garble", "cut"])
def test_a_faulted_take_is_heard_as_said_and_logged(fish: FishAudio, emulator: EmulatorControl, kind: str) -> None:
    emulator.control(**{f"fault_{kind}": 1})
    words = heard(fish, say(fish, PARAGRAPH))

    (entry,) = tts_entries(emulator)
    assert entry["fault"] == kind and entry["fault_detail"]
    detail, text = entry["fault_detail"].split(), " ".join(PARAGRAPH.split())
    if kind == "drop":  # a whole sentence missing, the rest said
        assert " ".join(words) == text.replace(" ".join(detail), "").replace("  ", " ").strip()
    elif kind == "repeat":  # a phrase of 3-8 words said twice
        assert 3 <= len(detail) <= 8 and len(words) == len(PARAGRAPH.split()) + len(detail)
        assert " ".join(detail + detail) in " ".join(words)
    elif kind == "garble":  # one word, a name if there is one, said as nonsense
        (nonsense,) = detail
        assert len(words) == len(PARAGRAPH.split()) and any(nonsense in word for word in words)
        assert "Marguerite." not in words
    else:  # the ending missing
        assert words == PARAGRAPH.split()[: len(words)] and len(words) == len(PARAGRAPH.split()) - len(detail)
    assert emulator.stats()["takes_faulted"] == 1


def test_a_retake_can_come_out_clean(fish: FishAudio, emulator: EmulatorControl) -> None:
    """The dice are seeded by the text and its render count: at rate 0.5 a retake sometimes differs."""
    emulator.control(fault_cut=0.5)
    text = f"A retake of this sentence, number {random.randrange(10**9)}, may be whole."
    for _ in range(12):
        say(fish, text)
    assert {e["fault"] for e in tts_entries(emulator)} == {"cut", None}


def test_the_same_audio_is_heard_the_same_way(fish: FishAudio, emulator: EmulatorControl) -> None:
    emulator.control(asr_noise=0.2)
    audio = say(fish, PARAGRAPH)
    first, second = (fish.asr.transcribe(audio=audio, language="en") for _ in range(2))
    assert first == second and first.text != " ".join(PARAGRAPH.split())


def test_recognition_noise_mishears_about_its_rate(fish: FishAudio, emulator: EmulatorControl) -> None:
    emulator.control(asr_noise=0.03)
    text = " ".join([PARAGRAPH] * 20)  # 660 words
    words, said = heard(fish, say(fish, text)), text.split()
    assert len(words) == len(said)
    differ = sum(a != b for a, b in zip(words, said, strict=True)) / len(said)
    assert 0.01 <= differ <= 0.06


def test_a_tone_and_the_canned_clip_carry_the_words(fish: FishAudio, emulator: EmulatorControl) -> None:
    emulator.control(tone_mode=True)
    assert heard(fish, say(fish, PARAGRAPH)) == PARAGRAPH.split()
    emulator.control(tone_mode=False, canned_audio=True)
    assert heard(fish, say(fish, PARAGRAPH)) == PARAGRAPH.split()


def test_an_mp3_carries_no_words(fish: FishAudio) -> None:
    """A lossy codec rewrites the samples' low bits: the emulator hears silence (a real recognizer would not)."""
    answer = fish.asr.transcribe(audio=say(fish, PARAGRAPH, "mp3"), language="en")
    assert answer.text == "" and answer.segments == [] and answer.duration > 5


def test_what_is_heard_is_the_audio_not_the_request(fish: FishAudio) -> None:
    samples, rate = wav_samples(say(fish, PARAGRAPH))
    half = heard(fish, as_wav(samples[: len(samples) // 2], rate))
    assert 0 < len(half) < len(PARAGRAPH.split()) and half == PARAGRAPH.split()[: len(half)]

    noise = np.random.default_rng(7).integers(0, 2, len(samples), dtype=np.int16)
    assert heard(fish, as_wav((samples & ~np.int16(1)) | noise, rate)) == []


def test_timestamps_can_be_left_out(fish: FishAudio) -> None:
    answer = fish.asr.transcribe(audio=say(fish, PARAGRAPH), language="en", include_timestamps=False)
    assert answer.segments == [] and answer.text.split() == PARAGRAPH.split()


def test_fish_limits_and_errors(fish: FishAudio, emulator: EmulatorControl) -> None:
    with pytest.raises(APIError) as short:
        fish.asr.transcribe(audio=as_wav(np.zeros(8000, dtype=np.int16), 16_000), language="en")
    assert short.value.status == 400 and "between 1 second and 60 minutes" in str(short.value)
    with pytest.raises(APIError) as large:
        fish.asr.transcribe(audio=as_wav(np.zeros(11 * 1024 * 1024, dtype=np.int16), 44_100), language="en")
    assert large.value.status == 413
    audio = say(fish, PARAGRAPH)
    with FishAudio(api_key="not-the-key", base_url=emulator.url) as stranger, pytest.raises(AuthenticationError):
        stranger.asr.transcribe(audio=audio, language="en")
    emulator.control(fail_status=500, fail_count=1)  # injected faults reach ASR as they reach TTS
    with pytest.raises(ServerError):
        fish.asr.transcribe(audio=audio, language="en")
    assert [e["status"] for e in emulator.requests() if e["kind"] == "asr"] == [400, 413, 401, 500]
