"""In-memory voice models: created -> training -> trained (or failed).

States are derived from timestamps when read, so no timers run: a model is
"created" for the first fifth of its training time, "training" until the
time is up, then "trained" (or "failed" when it was set up to fail).
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from worker.audio.codec import probe
from worker.errors import AudioError

State = Literal["created", "training", "trained", "failed"]
VISIBILITIES: tuple[str, ...] = ("public", "unlist", "private")
_AUTHOR = {"_id": "fish-emulator", "nickname": "Fish emulator", "avatar": ""}


class InvalidInput(ValueError):
    """Input the API rejects with 400; the message says what is wrong."""


def ensure_decodable(data: bytes, *, what: str) -> None:
    try:
        probe(data)
    except AudioError as exc:
        raise InvalidInput(f"{what} is not decodable: {exc}") from exc


def _check_fields(*, title: str | None, visibility: str | None) -> None:
    if title is not None and not title.strip():
        raise InvalidInput("title must not be empty")
    if visibility is not None and visibility not in VISIBILITIES:
        raise InvalidInput(f"visibility must be one of {', '.join(VISIBILITIES)}")


def iso_time(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class VoiceModel:
    id: str
    seq: int  # creation order; timestamps can tie
    title: str
    description: str
    visibility: str
    tags: list[str]
    texts: list[str]
    samples: list[bytes]
    cover_image: bytes | None
    created_at: float
    train_seconds: float
    fail_training: bool
    updated_at: float = 0.0
    forced_failed: bool = False
    deleted: bool = False
    task_count: int = 0
    sample_task_ids: list[str] = field(default_factory=list)

    def state(self, now: float | None = None) -> State:
        if self.forced_failed:
            return "failed"
        elapsed = (time.time() if now is None else now) - self.created_at
        if elapsed >= self.train_seconds:
            return "failed" if self.fail_training else "trained"
        return "created" if elapsed < self.train_seconds / 5 else "training"

    @property
    def voice_seed(self) -> bytes:
        """What the voice parameters are derived from: the stored sample audio."""
        digest = hashlib.sha256()
        for sample in self.samples:
            digest.update(sample)
        return digest.digest()

    def to_json(self, *, quirky_train_mode: bool = False) -> dict[str, Any]:
        """The shape of the real API's model object (validates as fishaudio.types.Voice)."""
        samples = [
            {
                "title": f"sample {index + 1}",
                "text": self.texts[index] if index < len(self.texts) else "",
                "task_id": self.sample_task_ids[index],
                "audio": f"emulator/{self.id}/sample-{index + 1}.wav",
            }
            for index in range(len(self.samples))
        ]
        return {
            "_id": self.id,
            "type": "tts",
            "title": self.title,
            "description": self.description,
            "cover_image": f"coverimage/{self.id}" if self.cover_image else "",
            # The real API sometimes answers "full", which the SDK's Voice model rejects.
            "train_mode": "full" if quirky_train_mode else "fast",
            "state": self.state(),
            "tags": list(self.tags),
            "samples": samples,
            "created_at": iso_time(self.created_at),
            "updated_at": iso_time(self.updated_at or self.created_at),
            "languages": ["en"],
            "visibility": self.visibility,
            "lock_visibility": False,
            "like_count": 0,
            "mark_count": 0,
            "shared_count": 0,
            "task_count": self.task_count,
            "liked": False,
            "marked": False,
            "author": dict(_AUTHOR),
        }


class ModelStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: dict[str, VoiceModel] = {}
        self._seq = itertools.count(1)

    def create(
        self,
        *,
        title: str,
        description: str,
        visibility: str,
        tags: list[str],
        texts: list[str],
        samples: list[bytes],
        cover_image: bytes | None,
        train_seconds: float,
        fail_training: bool,
    ) -> VoiceModel:
        """Validate like the real API (400 on bad input) and store a new model."""
        _check_fields(title=title, visibility=visibility)
        if not samples:
            raise InvalidInput("at least one voice file is required")
        for index, audio in enumerate(samples):
            ensure_decodable(audio, what=f"voice file #{index + 1}")
        if texts and len(texts) != len(samples):
            raise InvalidInput(f"got {len(texts)} texts for {len(samples)} voice files: send none or one per file")
        now = time.time()
        model = VoiceModel(
            id=uuid.uuid4().hex,
            seq=next(self._seq),
            title=title,
            description=description,
            visibility=visibility,
            tags=list(tags),
            texts=list(texts),
            samples=list(samples),
            cover_image=cover_image,
            created_at=now,
            updated_at=now,
            train_seconds=max(train_seconds, 0.0),
            fail_training=fail_training,
            sample_task_ids=[uuid.uuid4().hex for _ in samples],
        )
        with self._lock:
            self._models[model.id] = model
        return model

    def get(self, model_id: str) -> VoiceModel | None:
        """The live model with this id; deleted ones are gone."""
        with self._lock:
            model = self._models.get(model_id)
        return None if model is None or model.deleted else model

    def update(
        self,
        model_id: str,
        *,
        title: str | None = None,
        description: str | None = None,
        visibility: str | None = None,
        tags: list[str] | None = None,
        cover_image: bytes | None = None,
    ) -> VoiceModel | None:
        _check_fields(title=title, visibility=visibility)
        with self._lock:
            model = self._models.get(model_id)
            if model is None or model.deleted:
                return None
            if title is not None:
                model.title = title
            if description is not None:
                model.description = description
            if visibility is not None:
                model.visibility = visibility
            if tags is not None:
                model.tags = list(tags)
            if cover_image is not None:
                model.cover_image = cover_image
            model.updated_at = time.time()
            return model

    def delete(self, model_id: str) -> bool:
        with self._lock:
            model = self._models.get(model_id)
            if model is None or model.deleted:
                return False
            # Kept as a tombstone so the sample audio is freed but ids never come back.
            model.deleted = True
            model.samples = []
            return True

    def mark_failed(self, model_id: str) -> VoiceModel | None:
        with self._lock:
            model = self._models.get(model_id)
            if model is None or model.deleted:
                return None
            model.forced_failed = True
            model.updated_at = time.time()
            return model

    def count_use(self, model_id: str) -> None:
        with self._lock:
            model = self._models.get(model_id)
            if model is not None:
                model.task_count += 1

    def search(
        self,
        *,
        title: str | None = None,
        tags: list[str] | None = None,
        sort_by: str = "task_count",
    ) -> list[VoiceModel]:
        """Live models whose title holds `title` and that carry every tag in `tags`."""
        with self._lock:
            found = [m for m in self._models.values() if not m.deleted]
        if title:
            needle = title.casefold()
            found = [m for m in found if needle in m.title.casefold()]
        for tag in tags or []:
            found = [m for m in found if tag in m.tags]
        if sort_by == "task_count":
            found.sort(key=lambda m: (m.task_count, m.seq), reverse=True)
        else:
            found.sort(key=lambda m: m.seq, reverse=True)
        return found
