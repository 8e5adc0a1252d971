"""Work on the next few items in the background while the caller uses this one, in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def read_ahead(
    items: Sequence[Item], fetch: Callable[[Item], Result], *, ahead: int, name: str = "narrate-ahead"
) -> Iterator[Result]:
    """`fetch(item)` for each item, yielded in order, with up to `ahead` running at once.

    A fetch's error is raised as itself, for the caller to classify. A failed or
    abandoned pass returns at once: fetches already running finish in the
    background, the rest are cancelled.
    """
    pool = ThreadPoolExecutor(max_workers=max(1, ahead), thread_name_prefix=name)
    pending: deque[Future[Result]] = deque()
    try:
        for item in items:
            pending.append(pool.submit(fetch, item))
            if len(pending) > ahead:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
