"""What one pipeline run works with: settings, S3, Redis and the submitters, built once per run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import redis

from producer.submit.books import BookSubmitter
from producer.submit.jobs import Submitter
from producer.submit.voices import VoiceBook
from worker.infra.redisconn import connect_with
from worker.settings import Settings
from worker.storage import Storage


@dataclass
class InboxContext:
    settings: Settings
    storage: Storage
    client: redis.Redis
    jobs: Submitter
    books: BookSubmitter
    voices: VoiceBook
    clip_voices: dict[tuple[str, str, str], Any] = field(default_factory=dict)  # clips prepared during this run

    @classmethod
    def from_settings(cls, settings: Settings) -> InboxContext:
        return cls(
            settings=settings,
            storage=Storage.from_settings(settings),
            client=connect_with(settings),
            jobs=Submitter.from_settings(settings),
            books=BookSubmitter.from_settings(settings),
            voices=VoiceBook.from_settings(settings),
        )
