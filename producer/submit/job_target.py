"""Where and in which voice a run of jobs goes, and the job message and record each text becomes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from producer.readers.text import TextSource
from producer.submit.lexicons import Lexicons
from producer.submit.notify import NotifyBatch
from worker.contract import SCHEMA_VERSION, ClipVoice, ModelVoice, Notify, Output, QualityCheck, RenderJob, Synthesis
from worker.jobs.records import JobRecord


@dataclass(frozen=True)
class JobTarget:
    """Where and in which voice a run of jobs goes."""

    output: Output
    voice: ClipVoice | ModelVoice
    synthesis: Synthesis
    lexicons: Lexicons = Lexicons()
    notify: Notify | None = None
    batch: NotifyBatch | None = None  # counts the jobs before they are sent
    qc: QualityCheck | None = None  # proof-listening; None: off, and left out of the message

    def job(self, source: TextSource) -> RenderJob:
        return RenderJob(
            schema_version=SCHEMA_VERSION,
            job_id=uuid.uuid4().hex,
            text=source.text,
            voice=self.voice,
            output=self.output,
            title=source.name[:300],
            submitted_at=datetime.now(UTC),
            synthesis=self.synthesis,
            lexicons=self.lexicons.refs(),
            notify=self.notify,
            qc=self.qc,
        )


def queued_record(job: RenderJob) -> JobRecord:
    """The job's record as written before its message is sent: a worker always finds it."""
    voice: Any = job.voice
    return JobRecord(
        job_id=job.job_id,
        state="queued",
        title=job.title,
        text_bytes=len(job.text.encode("utf-8")),
        voice_mode="one_shot" if isinstance(voice, ClipVoice) else "reference_id",
        reference_hash=voice.reference_hash if isinstance(voice, ClipVoice) else "",
        submitted_at=job.submitted_at.isoformat(),
        notify_url=(job.notify.url or "") if job.notify else "",
        notify_batch=(job.notify.batch_id or "") if job.notify else "",
    )
