"""Building real jobs for tests: clips uploaded to S3 exactly as the producer does."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from producer.submit.clips import ClipInput, prepare_clip_voice
from worker import keys
from worker.contract import (
    SCHEMA_VERSION,
    Clip,
    ClipVoice,
    ModelVoice,
    Output,
    RenderJob,
)
from worker.storage import Storage


def clip_voice(storage: Storage, *, bucket: str, clip: tuple[Path, str]) -> ClipVoice:
    prepared = prepare_clip_voice([ClipInput(path=clip[0], transcript=clip[1])])
    clips = []
    for c in prepared.clips:
        key = keys.reference_clip(c.sha256, c.extension)
        storage.put(bucket, key, c.data, content_type="audio/wav")
        clips.append(Clip(key=key, sha256=c.sha256, size=len(c.data), transcript=c.transcript))
    return ClipVoice(reference_hash=prepared.reference_hash, clips=clips)


def make_job(
    *, text: str, voice: ClipVoice | ModelVoice, bucket: str, prefix: str = "out", fmt: str = "mp3"
) -> RenderJob:
    return RenderJob(
        schema_version=SCHEMA_VERSION,
        job_id=uuid.uuid4().hex,
        text=text,
        voice=voice,
        output=Output(bucket=bucket, prefix=prefix, format=fmt),  # type: ignore[arg-type]
        title="test.txt",
        submitted_at=datetime.now(UTC),
    )
