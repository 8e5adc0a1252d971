"""A book's pulse while one long step runs: its `updated_at` moves, so the reconciler knows it is alive.

Assembling a long chapter or the whole book can take longer than the stale
limit without recording any progress; without a heartbeat the reconciler would
take it for stalled and send the same assembly again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from worker.books.state import BookState
from worker.support.keepalive import kept_alive

# Beats per stale period: several may be missed (a slow Redis, a busy process) before the book looks stalled.
BEATS_PER_STALE_PERIOD = 5
LONGEST_PERIOD_SECONDS = 60.0


def heartbeat_period(stale_seconds: float) -> float:
    return min(LONGEST_PERIOD_SECONDS, stale_seconds / BEATS_PER_STALE_PERIOD)


@contextmanager
def book_heartbeat(state: BookState, book_id: str, *, stale_seconds: float) -> Iterator[None]:
    """The book `book_id` stays fresh while the body runs."""
    with kept_alive(
        lambda: state.touch(book_id), every=heartbeat_period(stale_seconds), name=f"book {book_id[:12]} heartbeat"
    ):
        yield
