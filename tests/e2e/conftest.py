"""Fixtures of the audiobook tests, shared by every end-to-end test that renders a book with real workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis

from producer.dev.services import Service, stop_all
from producer.dev.stack import LocalStack
from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.conftest import EmulatorControl
from worker.books.state import BookState
from worker.settings import Settings
from worker.storage import Storage

BOOK_ENV = {
    "NARRATE_PROMOTE_AFTER": "off",
    "NARRATE_QC": "off",  # spoken as tones, which no recognizer hears (test_proof_listening.py hears words)
    "NARRATE_CHUNK_BYTES": "120",
    "NARRATE_RETRY_BASE_SECONDS": "0.2",
    "NARRATE_WEBHOOK_SECRET": "webhook-test-secret",
    "NARRATE_WEBHOOK_ALLOW": "127.0.0.1/32",  # the tests' receiver listens on loopback
}


@pytest.fixture
def book_env(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in BOOK_ENV.items():
        monkeypatch.setenv(name, value)
    from worker.settings import get_settings

    get_settings.cache_clear()
    return {**stack_env, **BOOK_ENV}


@pytest.fixture
def workers(stack: LocalStack, emulator: EmulatorControl) -> Iterator[Callable[..., Service]]:
    redis.Redis.from_url(stack.redis.url).flushdb()  # type: ignore[union-attr]
    emulator.control(tone_mode=True)
    started: list[Service] = []

    def start(*, beat: bool = False, **extra: str) -> Service:
        service = stack.add_worker(concurrency=2, extra_env={**BOOK_ENV, **extra}, extra_args=["-B"] if beat else None)
        started.append(service)
        return service

    yield start
    emulator.control(tone_mode=False)
    stop_all(started, kill=True)  # the test is over: nothing to finish
    for service in started:
        if service in stack.services:
            stack.services.remove(service)


@pytest.fixture(scope="class")
def class_worker(stack: LocalStack) -> Iterator[Service]:
    """One worker as `workers()` starts it, shared by the tests of a class (outside a class it lasts one test):
    starting a worker takes longer than many of these tests."""
    service = stack.add_worker(concurrency=2, extra_env=BOOK_ENV)
    yield service
    stop_all([service], kill=True)  # the class is over: nothing to finish
    stack.services.remove(service)


@pytest.fixture
def book_worker(class_worker: Service, redis_client: redis.Redis, emulator: EmulatorControl) -> Iterator[Service]:
    """The class's worker for one test, which finds Redis flushed and the emulator speaking tones, as with `workers`."""
    emulator.control(tone_mode=True)
    yield class_worker
    emulator.control(tone_mode=False)


@pytest.fixture
def voice(reference_clip):  # noqa: ANN201
    return prepare_clip_voice([ClipInput(*reference_clip)])


def wait_book(book_id: str, *, timeout: float = 120) -> dict:
    state = BookState.from_url(Settings().broker_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        book = state.get(book_id) or {}
        if book.get("state") in ("succeeded", "failed"):
            assert book["state"] == "succeeded", book.get("error")
            return book
        time.sleep(0.2)
    raise AssertionError(f"book did not finish: {state.get(book_id)}")


def load(bucket: str, key: str) -> bytes:
    data = Storage().get(bucket, key)
    assert data is not None, f"missing s3://{bucket}/{key}"
    return data


def tts_texts(emulator: EmulatorControl) -> list[str]:
    return [r["text"] for r in emulator.requests() if r["status"] == 200 and r["kind"] == "tts"]
