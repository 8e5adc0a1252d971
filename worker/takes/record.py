"""A chunk's takes, recorded beside its content address: `chunks/<hash>/takes.json`.

The content address stays the chunk's identity (text, voice, model, settings). Every take Fish was paid for
is kept at `chunks/<hash>/take-<n>.wav` with what the recognizer heard in it and the verdict; the chosen take
is copied to `chunks/<hash>.wav`, where assembly reads it. A chunk whose record names a chosen take is settled:
a resumed or re-submitted book reuses it and neither pays for it nor hears it again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from worker import keys
from worker.hearing import Verdict
from worker.storage import Storage


class TakeEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    take: int = Field(ge=1)
    key: str
    made_at: datetime
    text_bytes: int = Field(description="UTF-8 bytes Fish billed for this take (0: rendered before takes were kept).")
    heard: dict[str, Any] | None = Field(None, description="Fish's speech-to-text answer, times in seconds.")
    verdict: dict[str, Any] | None = None
    unheard: str = Field("", description="Why the take could not be heard (e.g. under a second long).")

    def judged(self) -> Verdict | None:
        return Verdict.from_json(self.verdict) if self.verdict is not None else None

    def rank(self) -> tuple[bool, bool, float]:
        """Heard and passed first, then a take that could not be heard, then the best score."""
        verdict = self.judged()
        if verdict is None:
            return (True, False, 0.0) if self.unheard else (False, False, 0.0)
        return verdict.passed, True, verdict.score


class ChunkTakes(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: Literal[1] = 1
    text: str
    takes: list[TakeEntry] = Field(default_factory=list)
    chosen: int | None = None

    def entry(self, take: int) -> TakeEntry | None:
        return next((t for t in self.takes if t.take == take), None)

    def best(self) -> TakeEntry | None:
        heard = [t for t in self.takes if t.heard is not None or t.unheard]
        return max(heard, key=TakeEntry.rank) if heard else None

    def chosen_take(self) -> TakeEntry | None:
        return self.entry(self.chosen) if self.chosen is not None else None


def new_take(chunk_key: str, take: int, *, text_bytes: int) -> TakeEntry:
    return TakeEntry(
        take=take, key=keys.chunk_take_audio(chunk_key, take), made_at=datetime.now(UTC), text_bytes=text_bytes
    )


def load(storage: Storage, bucket: str, chunk_key: str) -> ChunkTakes | None:
    raw = storage.get(bucket, keys.chunk_takes(chunk_key))
    return ChunkTakes.model_validate_json(raw) if raw is not None else None


def save(storage: Storage, bucket: str, chunk_key: str, record: ChunkTakes) -> None:
    storage.put(
        bucket,
        keys.chunk_takes(chunk_key),
        record.model_dump_json(indent=1).encode(),
        content_type="application/json",
    )
