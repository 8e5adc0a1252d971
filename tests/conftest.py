"""Fixtures that start real services on loopback and stop them afterwards.

The session shares one Redis, one S3 endpoint and one emulator; each test gets
a fresh bucket and a flushed Redis, so tests do not see each other's state.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from producer.dev.stack import LocalStack
from producer.dev.starters import DEV_AWS
from tests.support.bytecode import pytest_configure  # noqa: F401  (hook: child processes start from bytecode)
from tests.support.cli import _cli_commands_built_once  # noqa: F401  (fixture: typer apps built once)
from tests.support.http import _tls_context_made_once, http  # noqa: F401  (fixture: one TLS context)
from tests.support.tidy import pytest_sessionfinish, pytest_sessionstart  # noqa: F401  (hooks: the run leaves the checkout clean)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    workdir = tmp_path_factory.mktemp("stack")
    with LocalStack(workdir=workdir) as local:
        yield local


@pytest.fixture(scope="session", autouse=True)
def _no_ambient_services() -> Iterator[None]:
    # Tests must only ever talk to what the fixtures start, never to a developer's own setup.
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("NARRATE_", "AWS_", "FISH_"))}
    yield
    os.environ.update(saved)


@pytest.fixture
def stack_env(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point this process (boto3, settings) at the stack; settings are re-read per test."""
    from worker.settings import get_settings

    env = stack.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield env
    get_settings.cache_clear()


@pytest.fixture
def redis_client(stack: LocalStack) -> redis.Redis:
    client = redis.Redis.from_url(stack.redis.url)  # type: ignore[union-attr]
    client.flushdb()
    return client


@pytest.fixture
def bucket(stack_env: dict[str, str]) -> str:
    from worker.storage import Storage

    name = f"test-{uuid.uuid4().hex[:12]}"
    Storage().create_bucket(name)
    return name


class EmulatorControl:
    """Read the emulator's record of what it received; change its behaviour."""

    def __init__(self, url: str) -> None:
        self.url = url

    def reset(self) -> None:
        http().post(f"{self.url}/_emulator/reset").raise_for_status()
        self.control(
            latency=0,
            concurrency=0,
            fail_rate=0,
            train_seconds=0,
            fail_training=False,
            fail_count=0,
            quirky_train_mode=False,
            tone_mode=False,
            credit="100",
            rate_limit_rate=0,
            stall_rate=0,
            stall_seconds=0,
            empty_audio_for="",
            fault_drop=0,
            fault_repeat=0,
            fault_garble=0,
            fault_cut=0,
            asr_noise=0,
            asr_latency_factor=0.2,
        )

    def control(self, **settings: object) -> None:
        http().post(f"{self.url}/_emulator/control", json=settings).raise_for_status()

    def stats(self) -> dict:
        return http().get(f"{self.url}/_emulator/stats").json()

    def requests(self) -> list[dict]:
        return http().get(f"{self.url}/_emulator/requests").json()

    def model(self, model_id: str) -> dict:
        """The model as the emulator stores it (raw JSON, as the Fish API answers)."""
        answer = http().get(
            f"{self.url}/model/{model_id}", headers={"Authorization": f"Bearer {os.environ['FISH_API_KEY']}"}
        )
        answer.raise_for_status()
        return answer.json()

    def create_model(self, clip: tuple[Path, str], *, key: str | None = None) -> str:
        """A trained voice made through the real SDK, as a user's own Fish voice would be."""
        from fishaudio import FishAudio

        client = FishAudio(api_key=key or os.environ["FISH_API_KEY"], base_url=self.url)
        voice = client.voices.create(
            title="test voice", voices=[clip[0].read_bytes()], texts=[clip[1]], visibility="private"
        )
        return voice.id


@pytest.fixture
def emulator(stack: LocalStack) -> EmulatorControl:
    control = EmulatorControl(stack.emulator.url)  # type: ignore[union-attr]
    control.reset()
    return control


@pytest.fixture(scope="session")
def reference_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A 10-30 s spoken clip and its exact transcript, made by the emulator's speech engine."""
    from producer.dev.run import sample_reference_clip
    from producer.dev.sample import reference_transcript

    folder = tmp_path_factory.mktemp("clips")
    os.environ.setdefault("XDG_CACHE_HOME", str(folder))
    return sample_reference_clip(), reference_transcript()


@pytest.fixture(scope="session")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A different, short (under 10 s) spoken clip."""
    from producer.dev.emulator.speech import make_reference_clip

    text = "A second voice, short and quick."
    path = tmp_path_factory.mktemp("clips") / "short.wav"
    path.write_bytes(make_reference_clip(text))
    return path, text


__all__ = ["DEV_AWS", "EmulatorControl"]
