"""The books' context in one worker process: a render's context (worker.voices.runtime) and the books' state."""

from __future__ import annotations

from worker.books.context import BookContext
from worker.books.state import BookState
from worker.runtime import per_process, redis_client
from worker.settings import get_settings
from worker.voices.runtime import render_context


@per_process
def book_context() -> BookContext:
    return BookContext(
        render=render_context(), state=BookState(redis_client(), ttl_seconds=get_settings().record_ttl_seconds)
    )
