"""Celery's `task-sent` events for jobs sent in bulk: one Redis pipeline per batch, and none while nobody listens.

With `task_send_sent_event` on (Flower and celery-exporter count sent tasks),
Celery publishes each event through kombu as a second message per job, which
made enqueueing about a third slower. Here Celery still builds each event's
fields (it calls `publish` below in place of its dispatcher's); they are
stamped as its dispatcher would, wrapped in kombu's Redis fan-out envelope and
published on the channel kombu would use, a batch per round trip.

Redis drops a PUBLISH nobody subscribes to, and says how many received it: once
a batch's events reached nobody, only one event asks again, at most once per
ASK_AGAIN_SECONDS (the first of a batch), and all of them are sent again as
soon as one is received. A monitor that starts mid-way misses about a second
of events; events are best-effort in Celery too. One job per call (a loop of
`submit()`) then costs no third round trip.
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from typing import Any

from celery import Celery
from celery.utils.nodenames import anon_nodename
from celery.utils.time import utcoffset
from kombu import Producer
from kombu.utils.json import dumps

ASK_AGAIN_SECONDS = 1.0


class SentEvents:
    """In place of Celery's event dispatcher for the messages sent (`send_task_message(..., event_dispatcher=)`)."""

    def __init__(self, app: Celery) -> None:
        self._clock = app.clock
        self._exchange = app.conf.event_exchange
        self._hostname = anon_nodename()  # what Celery's own dispatcher in a producer calls itself
        self._pid = os.getpid()
        self._pending: list[tuple[str, bytes]] = []
        self._unheard = False  # the last events published reached no subscriber
        self._asked_at = 0.0  # when they were published (monotonic)

    def publish(self, type: str, fields: dict[str, Any], producer: Producer, **_: Any) -> None:
        """Celery's dispatcher API: keep the event, stamped now, to publish with the batch."""
        if self._unheard and (self._pending or time.monotonic() - self._asked_at < ASK_AGAIN_SECONDS):
            return  # nobody listened last time: one event asks again now and then, the rest are not built
        event = {
            **fields,
            "hostname": self._hostname,
            "utcoffset": utcoffset(),
            "pid": self._pid,
            "clock": self._clock.forward(),
            "timestamp": time.time(),
            "type": type,
        }
        routing_key = type.replace("-", ".")
        envelope = {
            "body": base64.b64encode(dumps(event).encode()).decode(),
            "content-encoding": "utf-8",
            "content-type": "application/json",
            "headers": {"hostname": self._hostname},
            "properties": {
                "delivery_mode": 1,  # transient, as Celery sends events
                "delivery_info": {"exchange": self._exchange, "routing_key": routing_key},
                "priority": 0,
                "body_encoding": "base64",
                "delivery_tag": str(uuid.uuid4()),
            },
        }
        self._pending.append(
            (f"{producer.channel.keyprefix_fanout}{self._exchange}/{routing_key}", dumps(envelope).encode())
        )

    def flush(self, producer: Producer) -> None:
        """Publish the events kept so far in one round trip, on the producer's own Redis connection."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        pipe = producer.channel.client.pipeline(transaction=False)
        for topic, payload in pending:
            pipe.publish(topic, payload)
        self._unheard = not any(pipe.execute())
        self._asked_at = time.monotonic()

    def drop(self) -> None:
        """Forget the events of messages that were not sent."""
        self._pending.clear()
