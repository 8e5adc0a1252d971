"""Fixtures of the in-process audiobook fault tests (test_book_faults.py, test_book_faults_errors.py): the book
settings, S3 that fails as told, the book context, and the tasks' sends recorded instead of enqueued."""

from __future__ import annotations

import pytest
import redis

from producer.submit.clips import ClipInput, prepare_clip_voice
from tests.support.book_faults import FlakyStorage
from worker.books import tasks
from worker.books.context import BookContext
from worker.books.state import BookState
from worker.fish.client import FishClient
from worker.renders.held import HeldRenders
from worker.settings import Settings, get_settings
from worker.voices.speaker import RenderContext


def set_book_env(patch: pytest.MonkeyPatch) -> None:
    """The book settings, while `patch` lasts; settings are read afresh."""
    for name, value in {
        "NARRATE_PROMOTE_AFTER": "off",
        "NARRATE_QC": "off",  # spoken as tones, which no recognizer hears (test_proof_listening.py hears words)
        "NARRATE_CHUNK_BYTES": "120",
        "NARRATE_MAX_ATTEMPTS": "3",
        "NARRATE_WEBHOOK_SECRET": "s",
        "NARRATE_WEBHOOK_ALLOW": "127.0.0.1/32",
    }.items():
        patch.setenv(name, value)
    get_settings.cache_clear()


@pytest.fixture
def book_env(stack_env, monkeypatch: pytest.MonkeyPatch) -> None:
    set_book_env(monkeypatch)


@pytest.fixture
def storage(book_env) -> FlakyStorage:
    return FlakyStorage()


def book_context(redis_client: redis.Redis, storage: FlakyStorage) -> BookContext:
    settings = Settings()
    render = RenderContext(
        settings=settings, storage=storage, fish=FishClient(settings), held=HeldRenders(redis_client)
    )
    return BookContext(render=render, state=BookState(redis_client))


def record_sends(ctx: BookContext, patch: pytest.MonkeyPatch) -> dict[str, list]:
    """The tasks run with `ctx` while `patch` lasts; what they would enqueue is kept in the answer."""
    sent: dict[str, list] = {"chunk": [], "chapter": [], "book": [], "notify": []}
    patch.setattr(tasks, "book_context", lambda: ctx)
    patch.setattr(tasks, "enqueue_chunk", lambda message: sent["chunk"].append(message))
    patch.setattr(tasks, "enqueue_chapter", lambda *args: sent["chapter"].append(args))
    patch.setattr(tasks, "enqueue_book", lambda *args: sent["book"].append(args))
    patch.setattr(tasks.notify, "apply_async", lambda args, **options: sent["notify"].append(args))
    return sent


@pytest.fixture
def ctx(book_env, redis_client: redis.Redis, storage: FlakyStorage, emulator) -> BookContext:
    emulator.control(tone_mode=True)
    return book_context(redis_client, storage)


@pytest.fixture
def sent(ctx: BookContext, monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """The tasks run with this context; what they would enqueue is kept here."""
    return record_sends(ctx, monkeypatch)


@pytest.fixture
def voice(reference_clip):  # noqa: ANN201
    return prepare_clip_voice([ClipInput(*reference_clip)])
