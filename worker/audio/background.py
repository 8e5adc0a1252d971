"""An encoder fed from a thread of its own, so a chapter's encoders work beside its mastering chain.

FFmpeg's encoders run with the GIL released (PyAV drops it around them), so a
chapter's MP3 and AAC encoders in two threads use two cores where one would
take turns: the last chapter of a book, the one everything waits for, is done
sooner. Blocks are handed over in order through a short queue; an error in the
thread comes back to the caller at its next `write` or at `close`.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

import numpy as np

_DEPTH = 8  # blocks (about a second each) waiting for the encoder at most
_DONE = None


class BackgroundWriter:
    def __init__(self, writes: list[Callable[[np.ndarray], None]], *, name: str) -> None:
        self._writes = writes
        self._queue: queue.Queue[np.ndarray | None] = queue.Queue(maxsize=_DEPTH)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def write(self, block: np.ndarray) -> None:
        self._raise_if_failed()
        self._queue.put(block)

    def close(self) -> None:
        """Wait until every block is written; raises what the thread raised."""
        self._finish()
        self._raise_if_failed()

    def __enter__(self) -> BackgroundWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._finish()  # on an error too: the thread never outlives its chapter

    def _finish(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_DONE)
            self._thread.join()

    def _run(self) -> None:
        while (block := self._queue.get()) is not _DONE:
            if self._error is not None:
                continue  # failed: drain what comes, so the caller never blocks on a full queue
            try:
                for write in self._writes:
                    write(block)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                self._error = exc

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
