"""The workers' app and the pipelines' app share one base configuration (worker.celery_base), whatever the broker."""

from __future__ import annotations

import pytest

from producer.pipelines.tasks import make_app as pipelines_app
from worker.app import make_app as worker_app
from worker.celery_base import base_conf
from worker.settings import Settings


@pytest.mark.parametrize(
    "settings",
    [
        Settings(broker_url="redis://127.0.0.1:1/0"),
        Settings(broker_url="rediss://:secret@cache.internal:6380/0"),
        Settings(broker_url="sentinel://10.0.0.1:26379/0;sentinel://10.0.0.2:26379/0", redis_master_name="narrate"),
        Settings(broker_url="redis://127.0.0.1:1/0", visibility_timeout=7200),
    ],
    ids=["redis", "tls", "sentinel", "visibility"],
)
def test_both_apps_agree_on_every_shared_key(settings: Settings) -> None:
    shared = base_conf(settings)
    assert {"task_serializer", "accept_content", "task_ignore_result", "broker_transport_options"} <= set(shared)
    for app in (worker_app(settings), pipelines_app(settings)):
        assert {key: app.conf[key] for key in shared} == shared, app.main
        assert app.conf.broker_url == settings.broker_url


def test_each_app_keeps_its_own_queue_and_schedule() -> None:
    settings = Settings(broker_url="redis://127.0.0.1:1/0")
    workers, pipelines = worker_app(settings).conf, pipelines_app(settings).conf
    assert (workers.task_default_queue, pipelines.task_default_queue) == ("narrate", "narrate.pipelines")
    assert workers.redbeat_key_prefix != pipelines.redbeat_key_prefix, "two schedules, two locks"
    assert not set(workers.beat_schedule) & set(pipelines.beat_schedule)
