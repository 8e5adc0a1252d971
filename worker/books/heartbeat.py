"""A book's pulse while one long step runs: its `updated_at` moves, so the reconciler knows it is alive.

Assembling a long chapter or the whole book can take longer than the stale
limit without recording any progress; without a heartbeat the reconciler would
take it for stalled and send the same assembly again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from worker.books.state import BookState

log = logging.getLogger("narrate.books")

# Beats per stale period: several may be missed (a slow Redis, a busy process) before the book looks stalled.
BEATS_PER_STALE_PERIOD = 5
LONGEST_PERIOD_SECONDS = 60.0


def heartbeat_period(stale_seconds: float) -> float:
    return min(LONGEST_PERIOD_SECONDS, stale_seconds / BEATS_PER_STALE_PERIOD)


@contextmanager
def heartbeat(touch: Callable[[], None], *, every: float) -> Iterator[None]:
    """Call `touch()` every `every` seconds from a daemon thread while the body runs; stop when it ends."""
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.wait(every):
            try:
                touch()
            except Exception as exc:  # a missed beat is not the step's failure; the next one may land
                log.warning("heartbeat missed a beat: %s", exc)

    thread = threading.Thread(target=beat, name="narrate-book-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join(timeout=max(every, 1.0))


@contextmanager
def book_heartbeat(state: BookState, book_id: str, *, stale_seconds: float) -> Iterator[None]:
    """The book `book_id` stays fresh while the body runs."""
    with heartbeat(lambda: state.touch(book_id), every=heartbeat_period(stale_seconds)):
        yield
