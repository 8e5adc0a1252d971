"""Pipeline runs against a real Redis: one run per pipeline at a time, a bounded run, and one pipeline's schedule
never stops another."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from producer.pipelines import tasks
from producer.pipelines.runlock import RunLock
from worker.settings import get_settings

PIPELINES = """\
pipelines:
  - name: inbox
    inbox: s3://books/inbox/
    out: s3://books/audio/
    voice_id: 802e3bc2b27e49c2995d23ef70e6ac89
    every: 1s
  - name: bulletin
    recurring: s3://news/today.txt
    out: s3://news/audio/
    voice_id: 802e3bc2b27e49c2995d23ef70e6ac89
    every: 1s
"""


@pytest.fixture
def pipelines_file(stack_env, redis_client, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(PIPELINES)
    monkeypatch.setenv("NARRATE_PIPELINES_FILE", str(path))
    get_settings.cache_clear()
    return path


def test_a_run_longer_than_its_lock_keeps_it_and_a_second_run_stays_out(redis_client) -> None:
    lock = RunLock(redis_client, seconds=0.3)
    with lock.held("inbox") as mine:
        assert mine
        threading.Event().wait(1.0)  # three lock lifetimes: only renewal keeps it
        with RunLock(redis_client).held("inbox") as second:
            assert not second, "the first run still holds the lock"
    assert redis_client.get("narrate:pipeline:inbox:lock") is None, "released at the end of the run"


def test_a_run_that_lost_its_lock_does_not_release_the_next_runs(redis_client) -> None:
    with RunLock(redis_client, seconds=5).held("inbox") as mine:
        assert mine
        redis_client.set(
            "narrate:pipeline:inbox:lock", "the-next-run"
        )  # this run's lock ran out and another run took it
    assert redis_client.get("narrate:pipeline:inbox:lock") == b"the-next-run"


def test_a_run_is_skipped_while_another_holds_the_pipeline_and_is_bounded_in_time(pipelines_file, redis_client) -> None:
    with RunLock(redis_client).held("inbox"):
        assert tasks.run_pipeline.run("inbox") == {"skipped": "another run of this pipeline is under way"}
    assert tasks.RUN_SECONDS < tasks.run_pipeline.soft_time_limit < tasks.run_pipeline.time_limit


def test_one_pipelines_broken_schedule_does_not_stop_the_others(pipelines_file, redis_client) -> None:
    redis_client.set("narrate:pipeline:inbox:next_run", "not a time")  # the Lua claim fails for this one
    assert tasks.due(redis_client, now=time.time()) == ["bulletin"]
    redis_client.delete("narrate:pipeline:inbox:next_run", "narrate:pipeline:bulletin:next_run")
    assert tasks.due(redis_client, now=time.time()) == ["inbox", "bulletin"]


def test_a_run_s3_keeps_failing_is_retried_a_bounded_number_of_times_then_says_why(
    pipelines_file, redis_client, monkeypatch
) -> None:
    from producer.pipelines.status import pipeline_status
    from worker.errors import StorageUnavailable

    monkeypatch.setenv("NARRATE_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("NARRATE_RETRY_BASE_SECONDS", "0.01")
    get_settings.cache_clear()
    scans = []

    def failing_scan(*args, **kwargs):
        scans.append(1)
        raise StorageUnavailable("s3://books/inbox/: S3 is unreachable")

    monkeypatch.setattr(tasks, "run_once", failing_scan)
    tasks.run_pipeline.apply(args=("inbox",))  # eager: each retry runs at once
    assert len(scans) == 3, "the failure policy's bound, as for every other task"
    error = pipeline_status(redis_client, "inbox")["last_run"]["error"]
    assert (
        error == "pipeline inbox's run failed 3 times (NARRATE_MAX_ATTEMPTS is 3);"
        " last error: s3://books/inbox/: S3 is unreachable"
    )
    assert redis_client.get("narrate:pipeline:inbox:lock") is None, "the lock went with the last try"
    monkeypatch.setattr(tasks, "run_once", lambda *args, **kwargs: {"submitted": []})
    assert tasks.run_pipeline.apply(args=("inbox",)).result == {"submitted": []}, "the next scheduled run starts afresh"
