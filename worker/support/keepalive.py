"""Keep something alive while a body of code runs: a lease, a slot, a book's `updated_at`.

Each keeper is a daemon thread that calls `renew()` every `seconds` until the
body ends. A failed renewal is logged and the next one tried: renewals come
several times per lease, so one miss does not lose it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator

log = logging.getLogger("narrate.worker")


@contextlib.contextmanager
def kept_alive(renew: Callable[[], object], *, every: float, name: str) -> Iterator[None]:
    stop = threading.Event()

    def keep() -> None:
        while not stop.wait(every):
            try:
                renew()
            except Exception as exc:  # noqa: BLE001 - a missed renewal is not the body's failure
                log.warning("%s: a renewal failed (%s); trying again in %.1fs", name, exc, every)

    keeper = threading.Thread(target=keep, name=name, daemon=True)
    keeper.start()
    try:
        yield
    finally:
        stop.set()
        keeper.join(timeout=1.0)
