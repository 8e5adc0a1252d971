"""A job that takes its worker down on every delivery is failed, not redelivered forever.

Its own module: no other worker may consume the queue while this one is being killed.
"""

from __future__ import annotations

import time

import psutil
import pytest

from producer.devstack import LocalStack
from producer.sources import TextSource
from producer.submit import Submitter
from tests.conftest import EmulatorControl
from worker.records import JobStore
from worker.settings import Settings

pytestmark = pytest.mark.e2e


def test_a_job_that_keeps_killing_its_worker_fails_after_max_attempts(stack: LocalStack, stack_env, bucket, emulator: EmulatorControl, reference_clip) -> None:
    voice_id = emulator.create_model(reference_clip)
    emulator.control(latency=2)  # each Fish request is still in flight when its worker is killed
    crashing = stack.add_worker(concurrency=1, extra_env={"NARRATE_MAX_ATTEMPTS": "2"}, extra_args=["-Q", "narrate"])
    try:
        [job] = Submitter.from_settings(Settings()).submit(
            sources=[TextSource("oom.txt", "This job takes its worker down every time.")], voice=voice_id, out=f"s3://{bucket}/crash"
        )
        store, kills = JobStore.from_url(stack.redis.url), 0  # type: ignore[union-attr]
        deadline = time.monotonic() + 120
        while (record := store.get(job.job_id)) is not None and record.state != "failed" and time.monotonic() < deadline:
            if emulator.stats()["tts_requests"] > kills:  # a delivery reached Fish: kill the process running it, as the OOM killer would
                for child in psutil.Process(crashing.process.pid).children():
                    child.kill()
                kills += 1
            time.sleep(0.1)
        assert record is not None and record.state == "failed", record
        assert "died 2 times" in record.error and "narrate retry" in record.error
        assert kills == 2 and emulator.stats()["tts_requests"] == 2  # the third delivery gave up without paying Fish again
    finally:
        crashing.stop()
        stack.services.remove(crashing)
