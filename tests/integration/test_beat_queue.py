"""Beat's own tasks go to a queue of their own and expire, so a backlog of renders neither delays nor piles them up."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
import redis
from celery.beat import ScheduleEntry, Scheduler

from worker.app import ALL_QUEUES, BEAT_QUEUE, BEAT_TASKS, QUEUE, make_app
from worker.contract import BOOK_RECONCILE_TASK, CREDIT_CHECK_TASK, JOB_SWEEP_TASK
from worker.settings import Settings


def test_every_beat_entry_routes_to_the_beat_queue_and_expires_before_the_next_is_sent(stack_env) -> None:
    app = make_app(Settings())
    schedule = app.conf.beat_schedule
    assert (
        {entry["task"] for entry in schedule.values()}
        == set(BEAT_TASKS)
        == {BOOK_RECONCILE_TASK, CREDIT_CHECK_TASK, JOB_SWEEP_TASK}
    )
    assert BEAT_QUEUE in ALL_QUEUES, "a queue the workers take"
    for name, entry in schedule.items():
        route = app.amqp.router.route(dict(entry.get("options", {})), entry["task"])
        assert route["queue"].name == BEAT_QUEUE, name
        assert 0 < entry["options"]["expires"] <= entry["schedule"], (
            f"{name}: at most one of its messages waits at a time"
        )


@pytest.mark.parametrize("task", BEAT_TASKS)
def test_what_beat_sends_waits_in_the_beat_queue_with_its_expiry(
    stack_env, redis_client: redis.Redis, task: str
) -> None:
    app = make_app(Settings())
    [(name, entry)] = [(n, e) for n, e in app.conf.beat_schedule.items() if e["task"] == task]
    scheduler = Scheduler(app, lazy=True)
    sent_at = datetime.now(UTC)
    scheduler.apply_async(ScheduleEntry(name=name, app=app, **entry), advance=False)  # as beat sends each tick
    assert redis_client.llen(QUEUE) == 0, "not behind the renders"
    [raw] = redis_client.lrange(BEAT_QUEUE, 0, -1)
    headers = json.loads(raw)["headers"]
    assert headers["task"] == task
    expires = datetime.fromisoformat(headers["expires"])
    assert 0 < (expires - sent_at).total_seconds() <= entry["schedule"] + 1
