"""`task-sent` events of jobs sent in bulk, as Celery's own event receiver (Flower's, celery-exporter's) reads them."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
import redis

from producer.submit import publish, sent_events
from producer.submit.publish import send_render_jobs
from producer.submit.sent_events import SentEvents
from worker.app import QUEUE, make_app
from worker.contract import RENDER_TASK, RenderJob
from worker.settings import Settings

BATCH = 5


@pytest.fixture(autouse=True)
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(publish, "BATCH_JOBS", BATCH)


def render_jobs(count: int, *, first: int = 0) -> list[RenderJob]:
    return [
        RenderJob.model_validate(
            {
                "schema_version": 1,
                "job_id": f"{first + n:032x}",
                "text": f"Job {first + n}.",
                "voice": {"mode": "model", "reference_id": "7f92f8afb8ec43bf81429cc1c9199cb1"},
                "output": {"bucket": "books", "prefix": "events", "format": "mp3"},
                "submitted_at": datetime.now(UTC),
            }
        )
        for n in range(count)
    ]


class Monitor:
    """Celery's event receiver in a thread, as Flower runs it: every task-sent event it hears."""

    def __init__(self, client: redis.Redis, *, expect: int) -> None:
        self.heard: list[dict] = []
        patterns = client.pubsub_numpat()
        app = make_app(Settings())
        self._connection = app.connection_for_read()
        self._expect = expect
        self._receiver = app.events.Receiver(self._connection, handlers={"task-sent": self._hear})
        self._thread = threading.Thread(target=self._capture, args=(self._receiver,), daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while client.pubsub_numpat() <= patterns:  # subscribed: from here on it hears what is published
            assert time.monotonic() < deadline, "the event receiver did not subscribe"
            time.sleep(0.02)

    def _hear(self, event: dict) -> None:
        self.heard.append(event)
        self._receiver.should_stop = len(self.heard) >= self._expect

    @staticmethod
    def _capture(receiver) -> None:  # noqa: ANN001
        try:
            receiver.capture(timeout=10, wakeup=False)
        except TimeoutError:
            pass  # the test says what was missing

    def stop(self) -> list[dict]:
        self._thread.join(timeout=15)
        self._connection.release()
        return self.heard


def publishes(client: redis.Redis) -> int:
    return int(client.info("commandstats").get("cmdstat_publish", {}).get("calls", 0))


def test_a_listening_monitor_hears_every_job_sent(stack_env: dict[str, str], redis_client: redis.Redis) -> None:
    jobs = render_jobs(3 * BATCH)
    monitor = Monitor(redis_client, expect=len(jobs))
    send_render_jobs(make_app(Settings()), jobs, on_unsent=lambda *_: None)
    heard = monitor.stop()
    assert [event["uuid"] for event in heard] == [job.job_id for job in jobs]
    assert {(e["name"], e["queue"], e["kwargs"]) for e in heard[:1]} == {
        (RENDER_TASK, QUEUE, f"{{'job': '{jobs[0].job_id}'}}")
    }
    assert redis_client.llen(QUEUE) == len(jobs)


def test_with_nobody_listening_events_are_not_published(
    stack_env: dict[str, str], redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app(Settings())
    events = SentEvents(app)
    redis_client.config_resetstat()
    send_render_jobs(app, render_jobs(3 * BATCH), on_unsent=lambda *_: None, events=events)
    send_render_jobs(app, render_jobs(1, first=50), on_unsent=lambda *_: None, events=events)
    assert publishes(redis_client) == BATCH, (
        "only the first batch's events: nobody heard them, and it is too soon to ask"
    )

    monkeypatch.setattr(sent_events, "ASK_AGAIN_SECONDS", 0.0)
    redis_client.config_resetstat()
    send_render_jobs(app, render_jobs(3 * BATCH, first=60), on_unsent=lambda *_: None, events=events)
    assert publishes(redis_client) == 3, "one event per batch asks whether anyone listens now"

    # A monitor starts: the next batch's first event is heard, and every event after it is sent again.
    later = render_jobs(3 * BATCH, first=100)
    monitor = Monitor(redis_client, expect=1 + 2 * BATCH)
    send_render_jobs(app, later, on_unsent=lambda *_: None, events=events)
    heard = [event["uuid"] for event in monitor.stop()]
    assert heard == [later[0].job_id] + [job.job_id for job in later[BATCH:]]
    assert redis_client.llen(QUEUE) == 9 * BATCH + 1, "every message is sent whoever listens"
