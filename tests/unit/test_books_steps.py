"""Book task plumbing that needs no services: the heartbeat, the read-ahead, the tasks' delivery guarantees."""

from __future__ import annotations

import threading
import time

import pytest

from worker.books import tasks
from worker.books.heartbeat import heartbeat_period
from worker.errors import StorageUnavailable
from worker.support.keepalive import kept_alive
from worker.support.readahead import read_ahead


def test_every_book_task_is_redelivered_when_its_worker_dies() -> None:
    for task in (tasks.chunk, tasks.chapter, tasks.assemble, tasks.notify):
        assert task.acks_late and task.reject_on_worker_lost, task.name


def test_the_heartbeat_beats_well_inside_the_stale_limit() -> None:
    assert heartbeat_period(300) == 60 and heartbeat_period(100) == 20 and heartbeat_period(3600) == 60


def test_the_heartbeat_beats_while_the_body_runs_survives_a_missed_beat_and_stops_after() -> None:
    beats: list[float] = []

    def touch() -> None:
        beats.append(time.monotonic())
        if len(beats) == 1:
            raise ConnectionError("redis went away for a moment")

    with kept_alive(touch, every=0.05, name="test keeper"):
        time.sleep(0.4)
    count = len(beats)
    assert count >= 4, "beats go on after a failed one"
    time.sleep(0.2)
    assert len(beats) == count and not [t for t in threading.enumerate() if t.name == "test keeper"]


def test_the_heartbeat_stops_when_the_body_fails() -> None:
    with pytest.raises(RuntimeError), kept_alive(lambda: None, every=0.05, name="test keeper"):
        raise RuntimeError("the step failed")
    assert not [t for t in threading.enumerate() if t.name == "test keeper"]


def test_a_fetch_error_in_the_read_ahead_arrives_as_itself_and_stops_the_fetching() -> None:
    fetched: list[str] = []
    reset = StorageUnavailable("connection reset mid-body")

    def fetch(item: str) -> bytes:
        fetched.append(item)
        if item == "c":
            raise reset
        time.sleep(0.02)
        return item.encode()

    items = [chr(ord("a") + n) for n in range(20)]
    seen: list[bytes] = []
    with pytest.raises(StorageUnavailable) as raised:
        for data in read_ahead(items, fetch, ahead=2):
            seen.append(data)
    assert raised.value is reset and seen == [b"a", b"b"]
    time.sleep(0.1)
    assert len(fetched) <= 6, "fetches nobody will use are cancelled"
