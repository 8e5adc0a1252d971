"""The Fish API emulator, driven through the official SDK (and plain httpx for /_emulator/), in-process and as the
`narrate emulator` command."""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import httpx
import numpy as np
import ormsgpack
import pydantic
import pytest
from fishaudio import FishAudio, ReferenceAudio
from fishaudio.exceptions import (
    APIError,
    AuthenticationError,
    NotFoundError,
    RateLimitError,
    ServerError,
)
from fishaudio.types import Voice
from werkzeug.serving import make_server

from producer.dev.emulator import EmulatorConfig, create_app
from producer.dev.emulator.__main__ import parse_args
from producer.dev.emulator.speech import make_reference_clip
from producer.dev.emulator.tones import tone_duration, tone_frequency
from producer.dev.services import free_port
from tests.support.http import http
from tests.support.tones import decode_mono, decoded_tones, nearest_tone, tone_sequence
from worker.audio.codec import concatenate, probe

API_KEY = "emulator-test-key"
SENTENCE = "The quick brown fox jumps over the lazy dog near the quiet river bank."
REF_TEXT = "This is my reference voice, recorded for cloning."
DEFAULT_CONTROLS: dict[str, Any] = {
    "latency": 0,
    "concurrency": 0,
    "fail_rate": 0,
    "train_seconds": 0,
    "fail_training": False,
    "quirky_train_mode": False,
    "fail_status": 0,
    "fail_count": 0,
    "tone_mode": False,
    "canned_audio": False,
    "credit": "100",
    "rate_limit_rate": 0,
    "stall_rate": 0,
    "stall_seconds": 0,
    "empty_audio_for": "",
    "seed": None,
    **{"fault_drop": 0.0, "fault_repeat": 0.0, "fault_garble": 0.0, "fault_cut": 0.0, "asr_noise": 0.0},
    "asr_latency_factor": 0.2,
}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    app = create_app(EmulatorConfig(port=0, api_key=API_KEY))
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    # A short poll: shutdown() waits for the serving loop to look, up to one poll (0.5 s by default).
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def base_url(server: str) -> str:
    """Each test starts from default controls and empty stats (models stay)."""
    http().post(f"{server}/_emulator/control", json=DEFAULT_CONTROLS).raise_for_status()
    http().post(f"{server}/_emulator/reset").raise_for_status()
    return server


@pytest.fixture
def client(base_url: str) -> Iterator[FishAudio]:
    with FishAudio(api_key=API_KEY, base_url=base_url) as fish:
        yield fish


@pytest.fixture(scope="module")
def clip() -> bytes:
    return make_reference_clip(REF_TEXT)


@pytest.fixture(scope="module")
def other_clip() -> bytes:
    return make_reference_clip("A different speaker says something else entirely.")


def control(base_url: str, **changes: Any) -> None:
    http().post(f"{base_url}/_emulator/control", json=changes).raise_for_status()


def stats(base_url: str) -> dict[str, Any]:
    return http().get(f"{base_url}/_emulator/stats").json()


def request_log(base_url: str) -> list[dict[str, Any]]:
    return http().get(f"{base_url}/_emulator/requests").json()


def create_voice(client: FishAudio, clip: bytes, **kwargs: Any) -> Voice:
    params: dict[str, Any] = {
        "title": "Narrator",
        "voices": [clip],
        "texts": [REF_TEXT],
        "visibility": "private",
        "tags": ["narrate:abc"],
    }
    params.update(kwargs)
    return client.voices.create(**params)


def wait_for_state(client: FishAudio, voice_id: str, state: str, *, timeout: float = 5.0) -> Voice:
    deadline = time.monotonic() + timeout
    while True:
        voice = client.voices.get(voice_id)
        if voice.state == state or time.monotonic() > deadline:
            return voice
        time.sleep(0.05)


@pytest.mark.parametrize("fmt", ["mp3", "wav", "opus"])
def test_one_shot_tts_decodes_and_is_logged(client: FishAudio, base_url: str, clip: bytes, fmt: str) -> None:
    audio = client.tts.convert(text=SENTENCE, references=[ReferenceAudio(audio=clip, text=REF_TEXT)], format=fmt)
    info = probe(audio)
    assert 1.5 < info.duration_seconds < 15
    assert info.channels == 1

    (entry,) = request_log(base_url)
    assert entry["mode"] == "one_shot"
    assert entry["reference_texts"] == [REF_TEXT]
    assert entry["reference_bytes"] == len(clip)
    assert entry["text"] == SENTENCE
    assert entry["model_header"] == "s2-pro"
    assert entry["status"] == 200
    counts = stats(base_url)
    assert counts["tts_requests"] == counts["tts_ok"] == counts["one_shot_requests"] == 1
    assert counts["reference_bytes_received"] == len(clip)
    assert counts["request_bytes_received"] > len(clip)
    assert counts["text_bytes"] == len(SENTENCE.encode())


def test_sample_rate_and_pcm(client: FishAudio) -> None:
    from fishaudio import TTSConfig

    wav = client.tts.convert(text="Hello there.", config=TTSConfig(format="wav", sample_rate=44100))
    assert probe(wav).sample_rate == 44100
    pcm = client.tts.convert(text="Hello there.", format="pcm")
    assert len(pcm) > 10_000 and len(pcm) % 2 == 0


def test_model_header_is_required(base_url: str, client: FishAudio) -> None:
    body = ormsgpack.packb({"text": "Hello", "format": "mp3"})
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/msgpack"}
    response = http().post(f"{base_url}/v1/tts", content=body, headers=headers)
    assert response.status_code == 400
    payload = response.json()
    assert payload["status"] == 400
    assert "model" in payload["message"] and "s2-pro" in payload["message"]

    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", model="s9-ultra")  # type: ignore[arg-type]
    assert excinfo.value.status == 400
    assert stats(base_url)["errors_by_status"] == {"400": 2}


def test_bad_input_is_rejected(base_url: str, client: FishAudio) -> None:
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="   ")
    assert excinfo.value.status == 400

    headers = {"Authorization": f"Bearer {API_KEY}", "model": "s1"}
    response = http().post(f"{base_url}/v1/tts", json={"text": "Hi", "format": "flac"}, headers=headers)
    assert response.status_code == 400 and "format" in response.json()["message"]
    response = http().post(f"{base_url}/v1/tts", json={"text": "Hi", "format": "wav"}, headers=headers)
    assert response.status_code == 200 and response.headers["content-type"] == "audio/wav"

    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hi", references=[ReferenceAudio(audio=b"not audio", text="x")])
    assert excinfo.value.status == 400 and "not decodable" in excinfo.value.message


def test_wrong_key_is_rejected(base_url: str) -> None:
    with FishAudio(api_key="wrong-key", base_url=base_url) as fish:
        with pytest.raises(AuthenticationError) as excinfo:
            fish.tts.convert(text="Hello")
        assert excinfo.value.message == "Invalid Token"
        with pytest.raises(AuthenticationError):
            fish.voices.list()
    response = http().get(f"{base_url}/model")
    assert response.status_code == 401
    assert response.json() == {"status": 401, "message": "Invalid Token"}


def test_unknown_reference_id(client: FishAudio) -> None:
    missing = uuid.uuid4().hex
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", reference_id=missing)
    assert excinfo.value.status == 400
    assert excinfo.value.message == f"Reference not found: {missing}"


def test_voice_lifecycle_and_reference_id(client: FishAudio, base_url: str, clip: bytes, other_clip: bytes) -> None:
    control(base_url, train_seconds=0.5)
    voice = create_voice(client, clip)
    assert isinstance(voice, Voice)
    assert voice.state in ("created", "training")
    assert voice.visibility == "private" and voice.tags == ["narrate:abc"]
    assert voice.samples[0].text == REF_TEXT

    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Too early.", reference_id=voice.id)
    assert excinfo.value.status == 400 and "not trained" in excinfo.value.message

    assert wait_for_state(client, voice.id, "trained").state == "trained"
    plain = client.tts.convert(text=SENTENCE, reference_id=voice.id, format="wav")
    # Inline references are ignored when reference_id is set, but still counted.
    with_inline = client.tts.convert(
        text=SENTENCE,
        reference_id=voice.id,
        references=[ReferenceAudio(audio=other_clip, text="ignored")],
        format="wav",
    )
    assert plain == with_inline
    assert probe(plain).duration_seconds > 1.5

    ok_entries = [e for e in request_log(base_url) if e["status"] == 200]
    assert [e["mode"] for e in ok_entries] == ["reference_id", "reference_id"]
    assert ok_entries[1]["reference_texts"] == ["ignored"]
    counts = stats(base_url)
    assert counts["reference_id_requests"] == 3  # the early one included
    assert counts["one_shot_requests"] == 0
    assert counts["reference_bytes_received"] == len(other_clip)
    assert counts["models_created"] == 1
    assert client.voices.get(voice.id).task_count == 2


def test_failed_training(client: FishAudio, base_url: str, clip: bytes) -> None:
    control(base_url, fail_training=True)
    doomed = create_voice(client, clip)
    assert doomed.state == "failed"
    control(base_url, fail_training=False)
    voice = create_voice(client, clip)
    assert voice.state == "trained"
    http().post(f"{base_url}/_emulator/models/{voice.id}/fail").raise_for_status()
    assert client.voices.get(voice.id).state == "failed"
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", reference_id=voice.id)
    assert excinfo.value.status == 400 and "not trained" in excinfo.value.message


def test_create_validation(client: FishAudio, clip: bytes) -> None:
    with pytest.raises(APIError) as excinfo:
        create_voice(client, clip, voices=[b"garbage"])
    assert excinfo.value.status == 400 and "not decodable" in excinfo.value.message
    with pytest.raises(APIError) as excinfo:
        create_voice(client, clip, texts=["one", "two"])
    assert excinfo.value.status == 400
    with pytest.raises(APIError) as excinfo:
        create_voice(client, clip, voices=[])
    assert excinfo.value.status == 400


def test_list_pagination_by_tag(client: FishAudio, clip: bytes) -> None:
    tag = f"narrate:{uuid.uuid4().hex[:8]}"
    created = {create_voice(client, clip, title=f"Voice {i}", tags=[tag, "x"]).id for i in range(7)}
    seen: list[str] = []
    for page_number, size in ((1, 3), (2, 3), (3, 1), (4, 0)):
        page = client.voices.list(self_only=True, tags=[tag], page_size=3, page_number=page_number)
        assert page.total == 7
        assert len(page.items) == size
        seen += [voice.id for voice in page.items]
    assert len(seen) == 7 and set(seen) == created
    assert client.voices.list(tags=[tag, "missing"]).total == 0
    assert client.voices.list(tags=tag, title="voice 3").total == 1


def test_update_and_delete(client: FishAudio, base_url: str, clip: bytes) -> None:
    voice = create_voice(client, clip)
    client.voices.update(voice.id, title="Renamed", tags=["narrate:new", "b"], visibility="unlist")
    fetched = client.voices.get(voice.id)
    assert (fetched.title, fetched.tags, fetched.visibility) == (
        "Renamed",
        ["narrate:new", "b"],
        "unlist",
    )
    assert fetched.updated_at >= fetched.created_at

    client.voices.delete(voice.id)
    with pytest.raises(NotFoundError) as excinfo:
        client.voices.get(voice.id)
    assert excinfo.value.message == "Model not found"
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", reference_id=voice.id)
    assert excinfo.value.status == 400
    with pytest.raises(NotFoundError):
        client.voices.delete(voice.id)
    with pytest.raises(NotFoundError):
        client.voices.update(voice.id, title="Ghost")
    assert stats(base_url)["models_deleted"] == 1


def test_concurrency_limit(client: FishAudio, base_url: str) -> None:
    control(base_url, concurrency=1, latency=0.5)

    def render(_: int) -> bytes | Exception:
        try:
            return client.tts.convert(text="Busy.", format="wav")
        except APIError as exc:
            return exc

    with ThreadPoolExecutor(max_workers=3) as pool:
        results = list(pool.map(render, range(3)))
    limited = [r for r in results if isinstance(r, RateLimitError)]
    assert limited, results
    assert any(isinstance(r, bytes) for r in results)
    assert limited[0].message == "Too many requests: concurrency limit exceeded for your plan"
    counts = stats(base_url)
    assert counts["peak_in_flight"] == 1
    assert counts["in_flight"] == 0
    assert counts["errors_by_status"]["429"] == len(limited)

    # The real 429 carries no Retry-After header.
    with ThreadPoolExecutor(max_workers=1) as pool:
        busy = pool.submit(render, 0)
        time.sleep(0.2)
        response = http().post(
            f"{base_url}/v1/tts",
            json={"text": "Hi"},
            headers={"Authorization": f"Bearer {API_KEY}", "model": "s1"},
        )
        assert isinstance(busy.result(), bytes)
    assert response.status_code == 429
    assert "retry-after" not in response.headers


def test_fail_rate(client: FishAudio, base_url: str) -> None:
    control(base_url, fail_rate=1.0)
    with pytest.raises(ServerError) as excinfo:
        client.tts.convert(text="Hello")
    assert excinfo.value.status == 500 and excinfo.value.message == "Internal server error"
    control(base_url, fail_rate=0.0)
    assert client.tts.convert(text="Hello")


def test_fail_status_once(client: FishAudio, base_url: str) -> None:
    control(base_url, fail_status=402, fail_count=1)
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello")
    assert excinfo.value.status == 402
    assert excinfo.value.message == "Insufficient API credit"
    assert client.tts.convert(text="Hello")
    assert [e["status"] for e in request_log(base_url)] == [402, 200]


def test_control_rejects_bad_values(base_url: str) -> None:
    for bad in ({"fail_rate": 2}, {"nope": 1}, {"latency": "slow"}, {"fail_status": 200}):
        response = http().post(f"{base_url}/_emulator/control", json=bad)
        assert response.status_code == 400, bad


def test_quirky_train_mode(client: FishAudio, base_url: str, clip: bytes) -> None:
    voice = create_voice(client, clip)
    control(base_url, quirky_train_mode=True)
    with pytest.raises(pydantic.ValidationError):
        client.voices.get(voice.id)
    raw = http().get(f"{base_url}/model/{voice.id}", headers={"Authorization": f"Bearer {API_KEY}"})
    assert raw.json()["train_mode"] == "full"


def test_references_shape_the_voice(client: FishAudio, clip: bytes, other_clip: bytes) -> None:
    def render(reference: bytes) -> bytes:
        return client.tts.convert(text=SENTENCE, references=[ReferenceAudio(audio=reference, text="x")], format="wav")

    first = render(clip)
    assert render(clip) == first
    assert render(other_clip) != first
    assert client.tts.convert(text=SENTENCE, format="wav") != first


def test_stats_reset_keeps_models(client: FishAudio, base_url: str, clip: bytes) -> None:
    voice = create_voice(client, clip)
    assert stats(base_url)["requests_total"] == 1
    http().post(f"{base_url}/_emulator/reset").raise_for_status()
    counts = stats(base_url)
    assert counts["requests_total"] == 0 and counts["models_created"] == 0
    assert request_log(base_url) == []
    assert client.voices.get(voice.id).id == voice.id
    assert http().get(f"{base_url}/_emulator/health").json() == {"ok": True}


@pytest.fixture(scope="module")
def emulator_processes() -> Iterator[dict[str, subprocess.Popen[str]]]:
    """The emulators this module runs as processes (its own module, `narrate emulator` on a port it is given, and
    `narrate emulator --tone-mode`), started side by side when the first is wanted: each is mostly Python starting
    up, and those overlap instead of adding up."""
    options = ["--latency", "0", "--concurrency", "0", "--train-seconds", "0", "--fail-rate", "0"]
    module = [sys.executable, "-m", "producer.dev.emulator", "--host", "127.0.0.1", "--port", "0", *options]
    narrate = [sys.executable, "-m", "producer.cli.main", "emulator"]
    unbuffered = {**os.environ, "PYTHONUNBUFFERED": "1"}
    started = {
        "module": subprocess.Popen(
            [*module, "--api-key", API_KEY], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ),
        "narrate": subprocess.Popen(
            [*narrate, "--port", str(free_port()), "--concurrency", "3", "--api-key", "k1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=unbuffered,
        ),
        "narrate --tone-mode": subprocess.Popen(
            [*narrate, "--port", "0", "--tone-mode", "--api-key", API_KEY],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ),
    }
    yield started
    for proc in started.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def first_line(proc: subprocess.Popen[str]) -> str:
    """What the emulator process prints first (where it listens), waited for up to 30 s."""
    assert proc.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert selector.select(timeout=30), "the emulator printed nothing"
    return proc.stdout.readline()


def test_module_runs_as_a_process(emulator_processes: dict[str, subprocess.Popen[str]]) -> None:
    proc = emulator_processes["module"]
    line = first_line(proc)
    match = re.fullmatch(r"fish emulator listening on (http://127\.0\.0\.1:\d+)\n", line)
    assert match, line
    url = match.group(1)
    assert http().get(f"{url}/_emulator/health").json() == {"ok": True}
    with FishAudio(api_key=API_KEY, base_url=url) as fish:
        assert fish.voices.list().total == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


def test_narrate_emulator_serves_the_fish_api_until_stopped(
    emulator_processes: dict[str, subprocess.Popen[str]],
) -> None:
    process = emulator_processes["narrate"]
    port = process.args[process.args.index("--port") + 1]  # type: ignore[union-attr]
    assert "listening on" in process.stdout.readline()  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    assert http().get(f"{base}/_emulator/health").json() == {"ok": True}
    assert http().get(f"{base}/_emulator/control").json()["concurrency"] == 3
    assert http().get(f"{base}/model", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert http().get(f"{base}/model", headers={"Authorization": "Bearer k1"}).json()["total"] == 0
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


TONE_TEXTS = [
    "Chapter one.",
    "It was a bright cold day in April, and the clocks were striking thirteen.",
    "Winston Smith slipped quickly through the glass doors.",
    "Yes.",  # short: the 0.6 s minimum
    "The hallway smelt of boiled cabbage and old rag mats.",
]


def test_tone_mode_round_trips_an_audiobook(client: FishAudio, base_url: str, clip: bytes) -> None:
    assert http().get(f"{base_url}/_emulator/control").json()["tone_mode"] is False
    control(base_url, tone_mode=True)
    assert http().get(f"{base_url}/_emulator/control").json()["tone_mode"] is True
    parts = [client.tts.convert(text=text, format="wav", model="s2-pro") for text in TONE_TEXTS]
    # References still count and are checked, but do not change the tone.
    parts.append(
        client.tts.convert(text="A cloned line.", references=[ReferenceAudio(audio=clip, text=REF_TEXT)], format="wav")
    )
    expected = [tone_frequency(text) for text in [*TONE_TEXTS, "A cloned line."]]
    assert len(set(expected)) == len(expected)  # distinct tones, so the order is what is checked
    for part, text in zip(parts, [*TONE_TEXTS, "A cloned line."]):
        assert probe(part).duration_seconds == pytest.approx(tone_duration(text), abs=0.01)

    book = concatenate(parts, fmt="mp3", pause_seconds=0.3)
    samples, rate = decode_mono(book)
    found = tone_sequence(samples, rate)
    assert [nearest_tone(freq) for freq in found] == expected
    assert found == [pytest.approx(freq, abs=3) for freq in expected]

    log = request_log(base_url)
    assert [entry["tone_hz"] for entry in log] == expected
    assert [entry["text"] for entry in log] == [*TONE_TEXTS, "A cloned line."]
    assert log[-1]["mode"] == "one_shot" and log[-1]["reference_texts"] == [REF_TEXT]
    assert stats(base_url)["tts_ok"] == 6

    control(base_url, tone_mode=False)
    speech = client.tts.convert(text=TONE_TEXTS[1], format="wav")
    assert request_log(base_url)[-1]["tone_hz"] is None
    assert speech != parts[1]


@pytest.mark.parametrize("fmt", ["mp3", "opus", "pcm"])
def test_tone_mode_formats_and_sample_rates(client: FishAudio, base_url: str, fmt: str) -> None:
    from fishaudio import TTSConfig

    control(base_url, tone_mode=True)
    text = "Formats carry the same tone."
    audio = client.tts.convert(text=text, config=TTSConfig(format=fmt, sample_rate=44100))
    if fmt == "pcm":
        samples = np.frombuffer(audio, dtype="<i2").astype(np.float32) / 32767
        rate = 44100
    else:
        samples, rate = decode_mono(audio)
        assert rate == (48000 if fmt == "opus" else 44100)
    assert [nearest_tone(f) for f in tone_sequence(samples, rate)] == [tone_frequency(text)]
    assert decoded_tones(client.tts.convert(text=text, format="opus")) == [tone_frequency(text)]


def test_tone_mode_still_validates(client: FishAudio, base_url: str) -> None:
    control(base_url, tone_mode=True)
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hi", references=[ReferenceAudio(audio=b"not audio", text="x")])
    assert excinfo.value.status == 400 and "not decodable" in excinfo.value.message
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", reference_id=uuid.uuid4().hex)
    assert excinfo.value.status == 400 and "Reference not found" in excinfo.value.message
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="   ")
    assert excinfo.value.status == 400
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", model="s9-ultra")  # type: ignore[arg-type]
    assert excinfo.value.status == 400
    with FishAudio(api_key="wrong-key", base_url=base_url) as fish:
        with pytest.raises(AuthenticationError):
            fish.tts.convert(text="Hello")
    control(base_url, fail_status=402, fail_count=1)
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello")
    assert excinfo.value.status == 402
    assert decoded_tones(client.tts.convert(text="Hello", format="wav")) == [tone_frequency("Hello")]
    log = request_log(base_url)
    assert [e["status"] for e in log] == [400, 400, 400, 400, 401, 402, 200]
    assert log[-2]["tone_hz"] == log[-1]["tone_hz"] == tone_frequency("Hello")
    for bad in ({"tone_mode": 1}, {"tone_mode": "yes"}):
        assert http().post(f"{base_url}/_emulator/control", json=bad).status_code == 400


def test_tone_mode_from_config_and_command_line() -> None:
    assert parse_args(["--tone-mode"]).tone_mode is True
    assert parse_args([]).tone_mode is False
    app = create_app(EmulatorConfig(api_key=API_KEY, tone_mode=True))
    with app.test_client() as web:
        assert web.get("/_emulator/control").get_json()["tone_mode"] is True
        headers = {"Authorization": f"Bearer {API_KEY}", "model": "s1"}
        answer = web.post("/v1/tts", json={"text": "Config tone.", "format": "wav"}, headers=headers)
        assert answer.status_code == 200
        assert decoded_tones(answer.data) == [tone_frequency("Config tone.")]
        assert web.get("/_emulator/requests").get_json()[0]["tone_hz"] == tone_frequency("Config tone.")


def test_canned_audio_answers_one_clip_and_still_checks_and_counts() -> None:
    """Benchmark mode: the same encoded clip for any text, after the usual checks, counted as usual."""
    assert parse_args(["--canned-audio"]).canned_audio is True and parse_args([]).canned_audio is False
    app = create_app(EmulatorConfig(api_key=API_KEY, canned_audio=True))
    headers = {"Authorization": f"Bearer {API_KEY}", "model": "s1"}
    with app.test_client() as web:
        first = web.post("/v1/tts", json={"text": "One sentence.", "format": "mp3"}, headers=headers)
        second = web.post("/v1/tts", json={"text": "A different, longer sentence.", "format": "mp3"}, headers=headers)
        assert first.status_code == second.status_code == 200 and first.data == second.data
        rate = web.post("/v1/tts", json={"text": "Rate.", "format": "wav", "sample_rate": 16000}, headers=headers)
        assert probe(rate.data).sample_rate == 16000
        assert web.post("/v1/tts", json={"text": " ", "format": "mp3"}, headers=headers).status_code == 400
        assert web.get("/_emulator/stats").get_json()["tts_ok"] == 3
        assert web.post("/_emulator/control", json={"canned_audio": False}).status_code == 200
        spoken = web.post("/v1/tts", json={"text": "One sentence.", "format": "mp3"}, headers=headers)
        assert spoken.status_code == 200 and spoken.data != first.data


def test_narrate_emulator_tone_mode_option(emulator_processes: dict[str, subprocess.Popen[str]]) -> None:
    proc = emulator_processes["narrate --tone-mode"]
    match = re.search(r"listening on (http://\S+)", first_line(proc))
    assert match
    assert http().get(f"{match.group(1)}/_emulator/control").json()["tone_mode"] is True
    with FishAudio(api_key=API_KEY, base_url=match.group(1)) as fish:
        assert decoded_tones(fish.tts.convert(text="From the CLI.", format="wav")) == [tone_frequency("From the CLI.")]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


NO_CREDIT = "Insufficient API credit. API credit is managed independently from platform credit."


def test_get_credits_reports_the_credit_control(client: FishAudio, base_url: str) -> None:
    first = client.account.get_credits()
    assert first.credit == Decimal("100")
    assert first.id and first.user_id and first.has_free_credit is None
    control(base_url, credit="12.345")
    assert http().get(f"{base_url}/_emulator/control").json()["credit"] == "12.345"
    topped = client.account.get_credits(check_free_credit=True)
    assert topped.credit == Decimal("12.345")
    assert (topped.id, topped.user_id, topped.created_at) == (first.id, first.user_id, first.created_at)
    assert topped.updated_at >= first.updated_at >= first.created_at
    assert topped.has_free_credit is False
    with FishAudio(api_key="wrong-key", base_url=base_url) as fish:
        with pytest.raises(AuthenticationError):
            fish.account.get_credits()
    assert stats(base_url)["errors_by_status"] == {"401": 1}


def test_no_credit_refuses_tts_until_topped_up(client: FishAudio, base_url: str, clip: bytes) -> None:
    control(base_url, credit="0")
    assert client.account.get_credits().credit == 0
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", references=[ReferenceAudio(audio=clip, text=REF_TEXT)])
    assert excinfo.value.status == 402 and "credit" in excinfo.value.message
    assert excinfo.value.message == NO_CREDIT
    # Auth and the model header are still checked first; creating models costs no credit.
    with FishAudio(api_key="wrong-key", base_url=base_url) as fish:
        with pytest.raises(AuthenticationError):
            fish.tts.convert(text="Hello")
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", model="s9-ultra")  # type: ignore[arg-type]
    assert excinfo.value.status == 400
    voice = create_voice(client, clip)
    assert voice.state == "trained"
    raw = http().post(
        f"{base_url}/v1/tts",
        json={"text": "Hi", "format": "wav"},
        headers={"Authorization": f"Bearer {API_KEY}", "model": "s1"},
    )
    assert raw.status_code == 402
    assert raw.json() == {"status": 402, "message": NO_CREDIT}
    control(base_url, credit="-1.50")  # overdrawn counts as no credit too
    with pytest.raises(APIError) as excinfo:
        client.tts.convert(text="Hello", reference_id=voice.id)
    assert excinfo.value.status == 402

    control(base_url, credit="5")
    assert client.account.get_credits().credit == 5
    assert probe(client.tts.convert(text="Hello again.", format="wav")).duration_seconds > 0.3
    log = request_log(base_url)
    assert [e["status"] for e in log] == [402, 401, 400, 402, 402, 200]
    assert log[0]["model_header"] == "s2-pro"
    counts = stats(base_url)
    assert counts["errors_by_status"] == {"400": 1, "401": 1, "402": 3}
    assert counts["tts_requests"] == 6 and counts["tts_ok"] == 1
    assert counts["models_created"] == 1


def test_control_rejects_bad_credit(base_url: str) -> None:
    for bad in ("lots", "", "NaN", "Infinity", 5, 2.5, None, True):
        response = http().post(f"{base_url}/_emulator/control", json={"credit": bad})
        assert response.status_code == 400, bad
        assert response.json()["status"] == 400 and "credit" in response.json()["message"]
    # A rejected change applies nothing, not even its valid keys.
    response = http().post(f"{base_url}/_emulator/control", json={"latency": 1, "credit": "x"})
    assert response.status_code == 400
    assert http().get(f"{base_url}/_emulator/control").json() == DEFAULT_CONTROLS


def test_credit_from_config_and_command_line() -> None:
    assert parse_args(["--credit", "0"]).credit == "0"
    assert parse_args([]).credit == "100"
    with pytest.raises(SystemExit):
        parse_args(["--credit", "plenty"])
    app = create_app(EmulatorConfig(api_key=API_KEY, credit="0"))
    with app.test_client() as web:
        headers = {"Authorization": f"Bearer {API_KEY}", "model": "s1"}
        assert web.get("/wallet/self/api-credit", headers=headers).get_json()["credit"] == "0"
        assert web.post("/v1/tts", json={"text": "Hi"}, headers=headers).status_code == 402
        assert web.get("/_emulator/requests").get_json()[0]["status"] == 402


LIMITED = "Too many requests: concurrency limit exceeded for your plan"


def tts_status(client: FishAudio, text: str = "Hi") -> int:
    """200 for audio, else the status the SDK's error carries."""
    try:
        assert client.tts.convert(text=text, format="wav")
    except APIError as exc:
        return exc.status
    return 200


def test_rate_limit_rate_answers_the_concurrency_429(client: FishAudio, base_url: str) -> None:
    control(base_url, rate_limit_rate=1.0)
    assert http().get(f"{base_url}/_emulator/control").json()["rate_limit_rate"] == 1.0
    with pytest.raises(RateLimitError) as excinfo:
        client.tts.convert(text="Hello")
    assert excinfo.value.status == 429 and excinfo.value.message == LIMITED
    response = http().post(
        f"{base_url}/v1/tts", json={"text": "Hi"}, headers={"Authorization": f"Bearer {API_KEY}", "model": "s1"}
    )
    assert response.status_code == 429
    assert response.json() == {"status": 429, "message": LIMITED}
    assert "retry-after" not in response.headers
    # Only TTS is refused: models and the wallet are untouched.
    assert client.voices.list().total >= 0 and client.account.get_credits().credit == 100
    control(base_url, rate_limit_rate=0.0)
    assert client.tts.convert(text="Hello")
    assert [e["status"] for e in request_log(base_url)] == [429, 429, 200]
    counts = stats(base_url)
    assert counts["errors_by_status"] == {"429": 2}
    assert counts["tts_requests"] == 3 and counts["tts_ok"] == 1
    assert counts["in_flight"] == 0 and counts["peak_in_flight"] == 1 and counts["stalled"] == 0


def test_rate_limit_rate_is_random_and_seeded(client: FishAudio, base_url: str) -> None:
    control(base_url, rate_limit_rate=0.5, seed=1234, tone_mode=True)
    first = [tts_status(client) for _ in range(40)]
    assert set(first) <= {200, 429}
    assert 10 <= first.count(429) <= 30, first
    control(base_url, seed=1234)  # re-seeding replays the same draws
    assert [tts_status(client) for _ in range(40)] == first
    assert [e["status"] for e in request_log(base_url)] == first + first
    assert stats(base_url)["errors_by_status"] == {"429": 2 * first.count(429)}
    assert http().get(f"{base_url}/_emulator/control").json()["seed"] == 1234
    control(base_url, seed=None)  # back to an OS-seeded generator
    assert http().get(f"{base_url}/_emulator/control").json()["seed"] is None


def test_faults_draw_independently(client: FishAudio, base_url: str) -> None:
    control(base_url, rate_limit_rate=0.5, fail_rate=0.5, seed=99, tone_mode=True)
    statuses = [tts_status(client) for _ in range(40)]
    assert {200, 429, 500} <= set(statuses), statuses
    counts = stats(base_url)
    assert counts["errors_by_status"] == {"429": statuses.count(429), "500": statuses.count(500)}


def test_stall_rate_times_out_a_short_client(client: FishAudio, base_url: str) -> None:
    control(base_url, stall_rate=1.0, stall_seconds=1.5)
    started = time.monotonic()
    with FishAudio(api_key=API_KEY, base_url=base_url, timeout=0.5) as impatient:
        with pytest.raises(httpx.TimeoutException):
            impatient.tts.convert(text="Hello")
    assert time.monotonic() - started < 1.4
    counts = stats(base_url)
    assert counts["stalled"] == 1
    assert counts["in_flight"] == 1  # still asleep, holding its concurrency slot

    # It then answers normally (to a client that has gone), and is logged as such.
    deadline = time.monotonic() + 10
    while not request_log(base_url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [e["status"] for e in request_log(base_url)] == [200]
    counts = stats(base_url)
    assert counts["tts_ok"] == 1 and counts["in_flight"] == 0 and counts["errors_by_status"] == {}

    # A patient client just waits; a stall holds the slot, so it also fills a concurrency limit.
    control(base_url, stall_seconds=0.8, concurrency=1)
    with ThreadPoolExecutor(max_workers=1) as pool:
        started = time.monotonic()
        slow = pool.submit(client.tts.convert, text="Hello", format="wav")
        time.sleep(0.2)
        control(base_url, stall_rate=0.0)
        with pytest.raises(RateLimitError):
            client.tts.convert(text="Hello")
        assert probe(slow.result()).duration_seconds > 0.3
        assert time.monotonic() - started >= 0.8
    assert stats(base_url)["stalled"] == 2
    assert [e["status"] for e in request_log(base_url)] == [200, 429, 200]


def test_control_rejects_bad_fault_values(base_url: str) -> None:
    for bad in (
        {"rate_limit_rate": 1.5},
        {"rate_limit_rate": -0.1},
        {"rate_limit_rate": "often"},
        {"stall_rate": 2},
        {"stall_rate": -1},
        {"stall_rate": None},
        {"stall_seconds": -0.5},
        {"stall_seconds": "1"},
        {"stall_seconds": True},
        {"seed": "7"},
        {"seed": 1.5},
        {"seed": True},
        {"stall_rate": 0.5, "stall_seconds": -1},  # a rejected change applies none of its keys
    ):
        response = http().post(f"{base_url}/_emulator/control", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["status"] == 400
    for raw in ('{"stall_seconds": Infinity}', '{"rate_limit_rate": NaN}', '{"stall_rate": NaN}'):
        response = http().post(
            f"{base_url}/_emulator/control", content=raw, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, raw
    assert http().get(f"{base_url}/_emulator/control").json() == DEFAULT_CONTROLS
    control(base_url, rate_limit_rate=1, stall_rate=0, stall_seconds=2.5, seed=-3)
    shown = http().get(f"{base_url}/_emulator/control").json()
    assert (shown["rate_limit_rate"], shown["stall_seconds"], shown["seed"]) == (1.0, 2.5, -3)


def test_faults_from_config_and_command_line() -> None:
    args = parse_args(["--rate-limit-rate", "0.25", "--stall-rate", "0.5", "--stall-seconds", "2", "--seed", "7"])
    assert (args.rate_limit_rate, args.stall_rate, args.stall_seconds, args.seed) == (0.25, 0.5, 2.0, 7)
    defaults = parse_args([])
    assert (defaults.rate_limit_rate, defaults.stall_rate, defaults.stall_seconds, defaults.seed) == (0, 0, 0, None)
    for bad in (
        ["--rate-limit-rate", "1.5"],
        ["--stall-rate", "-0.1"],
        ["--stall-rate", "nan"],
        ["--stall-seconds", "-1"],
        ["--stall-seconds", "inf"],
        ["--seed", "x"],
    ):
        with pytest.raises(SystemExit):
            parse_args(bad)

    def statuses(config: EmulatorConfig) -> list[int]:
        with create_app(config).test_client() as web:
            headers = {"Authorization": f"Bearer {API_KEY}", "model": "s1"}
            shown = web.get("/_emulator/control").get_json()
            assert (shown["rate_limit_rate"], shown["seed"]) == (config.rate_limit_rate, config.seed)
            return [web.post("/v1/tts", json={"text": "Hi"}, headers=headers).status_code for _ in range(20)]

    seeded = EmulatorConfig(api_key=API_KEY, tone_mode=True, rate_limit_rate=0.5, seed=11)
    first = statuses(seeded)
    assert set(first) == {200, 429} and statuses(seeded) == first
    assert set(statuses(EmulatorConfig(api_key=API_KEY, rate_limit_rate=1.0))) == {429}
    app = create_app(EmulatorConfig(api_key=API_KEY, tone_mode=True, stall_rate=1.0, stall_seconds=0.2))
    with app.test_client() as web:
        started = time.monotonic()
        answer = web.post("/v1/tts", json={"text": "Hi"}, headers={"Authorization": f"Bearer {API_KEY}", "model": "s1"})
        assert answer.status_code == 200 and time.monotonic() - started >= 0.2
        assert web.get("/_emulator/stats").get_json()["stalled"] == 1


def test_a_text_fish_never_renders_answers_200_with_no_audio_and_is_billed(base_url: str) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}", "model": "s1"}
    assert http().post(f"{base_url}/_emulator/control", json={"empty_audio_for": 7}).status_code == 400
    http().post(f"{base_url}/_emulator/control", json={"empty_audio_for": "cursed"}).raise_for_status()
    try:
        before = http().get(f"{base_url}/_emulator/stats").json()["text_bytes"]
        answer = http().post(f"{base_url}/v1/tts", json={"text": "A cursed line.", "format": "wav"}, headers=headers)
        assert answer.status_code == 200 and answer.content == b""
        assert http().get(f"{base_url}/_emulator/stats").json()["text_bytes"] == before + len("A cursed line.")
        assert (
            http().post(f"{base_url}/v1/tts", json={"text": "A fine line.", "format": "wav"}, headers=headers).content
        )
    finally:
        http().post(f"{base_url}/_emulator/control", json={"empty_audio_for": ""}).raise_for_status()
