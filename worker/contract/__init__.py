"""The wire contract: what producers put on the queue and what workers leave in S3.

Any Celery client may enqueue `narrate.render` with `kwargs={"job": <RenderJob JSON>}`
(or the job as the single positional argument); `narrate schema` prints the JSON
Schema. Messages carry keys, hashes and text, never audio bytes.

Importing it builds no Celery app and reads no settings: a producer in another
service needs only pydantic. Its parts: the task and queue names (names), the job
message (jobs), the output manifest (manifest), a voice reference's identity
(identity), and where a message may point in S3 (locations).
"""

from __future__ import annotations

from worker.contract.identity import normalize_transcript, reference_hash
from worker.contract.jobs import (
    SCHEMA_VERSION,
    Clip,
    ClipVoice,
    LexiconRef,
    ModelVoice,
    Notify,
    Output,
    OutputFormat,
    QcMode,
    QualityCheck,
    RenderJob,
    Synthesis,
    Voice,
    VoiceMode,
    job_schema,
)
from worker.contract.locations import check_bucket, check_prefix
from worker.contract.manifest import Manifest, OutputRecord, RequestRecord
from worker.contract.names import (
    ALL_QUEUES,
    ASSEMBLY_QUEUE,
    BATCH_NOTIFY_TASK,
    BEAT_QUEUE,
    BOOK_ASSEMBLE_TASK,
    BOOK_CHAPTER_TASK,
    BOOK_CHUNK_TASK,
    BOOK_NOTIFY_TASK,
    BOOK_RECONCILE_TASK,
    CREDIT_CHECK_TASK,
    JOB_NOTIFY_TASK,
    JOB_SWEEP_TASK,
    PIPELINES_QUEUE,
    PIPELINES_RUN_TASK,
    PIPELINES_TICK_TASK,
    PROMOTE_TASK,
    QUEUE,
    RENDER_TASK,
    SENT_AT_HEADER,
    VOICES_QUEUE,
)

__all__ = [
    "ALL_QUEUES",
    "ASSEMBLY_QUEUE",
    "BATCH_NOTIFY_TASK",
    "BEAT_QUEUE",
    "BOOK_ASSEMBLE_TASK",
    "BOOK_CHAPTER_TASK",
    "BOOK_CHUNK_TASK",
    "BOOK_NOTIFY_TASK",
    "BOOK_RECONCILE_TASK",
    "CREDIT_CHECK_TASK",
    "JOB_NOTIFY_TASK",
    "JOB_SWEEP_TASK",
    "PIPELINES_QUEUE",
    "PIPELINES_RUN_TASK",
    "PIPELINES_TICK_TASK",
    "PROMOTE_TASK",
    "QUEUE",
    "RENDER_TASK",
    "SCHEMA_VERSION",
    "SENT_AT_HEADER",
    "VOICES_QUEUE",
    "Clip",
    "ClipVoice",
    "LexiconRef",
    "Manifest",
    "ModelVoice",
    "Notify",
    "Output",
    "OutputFormat",
    "QcMode",
    "QualityCheck",
    "OutputRecord",
    "RenderJob",
    "RequestRecord",
    "Synthesis",
    "Voice",
    "VoiceMode",
    "check_bucket",
    "check_prefix",
    "job_schema",
    "normalize_transcript",
    "reference_hash",
]
