"""The Celery configuration every narrate app shares: the workers' (worker.app) and the pipelines' service.

Both talk to one Redis in the same way; each app adds only its own queues, routes,
limits and beat schedule. Nothing here builds an app or connects a signal.
"""

from __future__ import annotations

import ssl
from urllib.parse import urlsplit

from worker.infra.redisconn import celery_redis_conf
from worker.settings import Settings


def base_conf(settings: Settings) -> dict[str, object]:
    """The shared settings for `app.conf.update`, from explicit settings (no environment read here)."""
    conf: dict[str, object] = dict(
        # pickle would let anyone who can write to the broker run code on the workers
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        # state lives in our own records; Celery results would be a second copy
        task_ignore_result=True,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        # unacked tasks of a dead worker are looked for every tenth of the visibility timeout, 1 to 20 s (throttle 1:
        # else kombu scans on every 10th interval only); with Sentinel, the broker, the state stores and RedBeat all
        # follow the master it names
        **celery_redis_conf(
            settings.broker_url,
            master_name=settings.redis_master_name,
            transport_options={
                "visibility_timeout": settings.visibility_timeout,
                "unacked_restore_interval": min(20, max(1, settings.visibility_timeout // 10)),
                "unacked_restore_throttle": 1,
            },
        ),
        # RedBeat keeps a schedule in Redis behind a lock, so a second beat waits instead of sending everything
        # twice; its default lock timeout (25 min) would leave the cluster that long without a beat after one dies.
        beat_scheduler="redbeat.RedBeatScheduler",
        redbeat_lock_timeout=30,
        beat_max_loop_interval=5,
    )
    if urlsplit(settings.broker_url).scheme == "rediss" and "ssl_cert_reqs" not in settings.broker_url:
        # TLS to Redis verifies the server's certificate unless the URL says otherwise.
        conf["broker_use_ssl"] = {"ssl_cert_reqs": ssl.CERT_REQUIRED}
    return conf
