"""Build jobs, upload reference clips once (claim check), record and enqueue.

Everything is validated before the first side effect: a bad input uploads
nothing and enqueues nothing.

    submitter = Submitter.from_settings(get_settings())
    voice = prepare_clip_voice([ClipInput(Path("ref.wav"), "Exact words.")])
    jobs = submitter.submit(sources=[read_text("ch1.txt")], voice=voice, out="s3://bucket/book", fmt="mp3")
"""

from __future__ import annotations

import hashlib
import time
import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from celery import Celery

from producer.publish import send_render_jobs
from producer.sources import TextSource
from worker import audio, keys
from worker.celery_app import make_app
from worker.errors import BadInput, StorageRejected
from worker.jobs import (
    SCHEMA_VERSION,
    Clip,
    ClipVoice,
    ModelVoice,
    Output,
    RenderJob,
    check_bucket,
    check_prefix,
    normalize_transcript,
    reference_hash,
)
from worker.records import JobRecord, JobStore
from worker.settings import Settings
from worker.storage import Storage
from worker.validate import CLIP_MAX_SECONDS, CLIP_MIN_SECONDS, check_text_characters
from worker.voices import ClipRef

# Fish guidance: 10-30 s of clean speech; the hard limits are the worker's own.
CLIP_ADVISED_SECONDS = (10.0, 30.0)
CLIP_MAX_BYTES = 50 * 1024 * 1024
# Speech runs at about 2-3 words a second. Outside these bounds the transcript is very likely not the
# clip's (wrong file, or a paragraph for a greeting); the low bound leaves room for pauses and silence.
TRANSCRIPT_WORDS_PER_SECOND = (0.2, 6.0)


@dataclass(frozen=True)
class ClipInput:
    path: Path
    transcript: str


@dataclass(frozen=True)
class PreparedClip:
    data: bytes
    sha256: str
    extension: str
    transcript: str
    duration_seconds: float


@dataclass(frozen=True)
class PreparedVoice:
    """Reference clips read and checked, ready to upload; `warnings` are for the user."""

    clips: list[PreparedClip]
    reference_hash: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class NamedVoice:
    """Clips registered once under a name (`narrate voices add`), already in S3."""

    name: str
    reference_hash: str
    clips: list[ClipRef]


def prepare_clip_voice(inputs: list[ClipInput]) -> PreparedVoice:
    clips: list[PreparedClip] = []
    warnings: list[str] = []
    for item in inputs:
        clip, clip_warnings = _prepare_clip(item)
        clips.append(clip)
        warnings.extend(clip_warnings)
    return PreparedVoice(
        clips=clips,
        reference_hash=reference_hash([(c.data, c.transcript) for c in clips]),
        warnings=warnings,
    )


def _prepare_clip(item: ClipInput) -> tuple[PreparedClip, list[str]]:
    path = item.path
    transcript = normalize_transcript(item.transcript)
    if not transcript:
        raise BadInput(f"{path}: the transcript is empty; pass the exact words the clip says (--transcript)")
    if not path.is_file():
        raise BadInput(f"{path}: reference clip not found")
    if path.stat().st_size > CLIP_MAX_BYTES:
        raise BadInput(f"{path}: reference clip is over {CLIP_MAX_BYTES // 2**20} MiB; use 10-30 s of speech")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BadInput(f"{path}: cannot be read ({exc.strerror})") from exc
    try:
        info = audio.probe(data)
    except BadInput as exc:
        raise BadInput(f"{path}: the reference clip is not usable audio: {exc}") from exc
    seconds = info.duration_seconds
    if seconds < CLIP_MIN_SECONDS:
        raise BadInput(f"{path}: the reference clip is {seconds:.2f} s; at least {CLIP_MIN_SECONDS:.0f} s of speech is needed (10-30 s is best)")
    if seconds > CLIP_MAX_SECONDS:
        raise BadInput(f"{path}: the reference clip is {seconds:.0f} s; at most {CLIP_MAX_SECONDS:.0f} s is accepted (10-30 s is best)")
    warnings = []
    low, high = CLIP_ADVISED_SECONDS
    if seconds < low:
        warnings.append(f"{path.name}: the reference clip is {seconds:.1f} s; Fish advises 10-30 s: shorter clips clone the voice less faithfully")
    elif seconds > high:
        warnings.append(f"{path.name}: the reference clip is {seconds:.1f} s; Fish advises 10-30 s: longer clips add bytes to every request without a better clone")
    rate_warning = _transcript_rate_warning(path, transcript, seconds)
    if rate_warning:
        warnings.append(rate_warning)
    extension = (path.suffix.lstrip(".").lower() or "audio")[:8]
    clip = PreparedClip(
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        extension=extension,
        transcript=transcript,
        duration_seconds=seconds,
    )
    return clip, warnings


def _spoken_words(transcript: str) -> float:
    """Words in a transcript; a Han or kana character counts as half a word (those scripts use no spaces)."""
    words = 0.0
    for token in transcript.split():
        ideographs = sum(1 for c in token if unicodedata.name(c, "").startswith(("CJK UNIFIED", "HIRAGANA", "KATAKANA")))
        words += ideographs / 2 if ideographs else 1
    return words


def _transcript_rate_warning(path: Path, transcript: str, seconds: float) -> str | None:
    words = _spoken_words(transcript)
    rate = words / seconds
    low, high = TRANSCRIPT_WORDS_PER_SECOND
    if low <= rate <= high:
        return None
    return (
        f"{path.name}: the transcript has {words:g} words for a {seconds:.1f} s clip ({rate:.2f} words/s, expected"
        f" {low:g}-{high:g}): it does not look like the exact words of this clip, and a mismatched transcript clones the voice badly"
    )


def parse_out(url: str) -> tuple[str, str]:
    """`s3://bucket[/prefix]` → (bucket, prefix), or BadInput saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise BadInput(f"--out {url!r}: expected s3://bucket[/prefix]")
    if parts.query or parts.fragment:
        raise BadInput(f"--out {url!r}: '?' and '#' are not allowed in an S3 prefix")
    try:
        bucket = check_bucket(parts.netloc)
        prefix = check_prefix(parts.path[1:])  # only the separator: "//x" is an absolute key
    except ValueError as exc:
        raise BadInput(f"--out {url!r}: {exc}") from exc
    return bucket, prefix


def check_format(fmt: str) -> str:
    if fmt not in audio.FORMATS:
        raise BadInput(f"--format {fmt!r}: unknown format; use one of {', '.join(audio.FORMATS)}")
    return fmt


# A bucket, or a voice's clips in it, found this recently is not asked for again.
BUCKET_RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class _Target:
    """Where and in which voice a run of jobs goes."""

    output: Output
    voice: ClipVoice | ModelVoice

    def job(self, source: TextSource) -> RenderJob:
        return RenderJob(
            schema_version=SCHEMA_VERSION,
            job_id=uuid.uuid4().hex,
            text=source.text,
            voice=self.voice,
            output=self.output,
            title=source.name[:300],
            submitted_at=datetime.now(timezone.utc),
        )


class Submitter:
    def __init__(self, *, storage: Storage, store: JobStore, app: Celery, max_text_bytes: int | None = None) -> None:
        self._checked: dict[str, float] = {}  # bucket, or bucket/reference: when last found there
        self._storage = storage
        self._store = store
        self._app = app
        self._max_text_bytes = max_text_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> Submitter:
        return cls(
            storage=Storage.from_settings(settings),
            store=JobStore.from_url(settings.broker_url),
            app=make_app(settings),
            max_text_bytes=settings.max_text_bytes,
        )

    def submit(
        self, *, sources: list[TextSource], voice: PreparedVoice | NamedVoice | str, out: str, fmt: str = "mp3"
    ) -> list[RenderJob]:
        """One job per source; `voice` is prepared clips, a named voice, or an existing Fish voice id."""
        if not sources:
            raise BadInput("no text to narrate: pass at least one file (or '-' for stdin)")
        for source in sources:
            self._check_text(source)
        target = self._target(voice=voice, out=out, fmt=fmt)
        jobs = [target.job(source) for source in sources]
        self._prepare_bucket(target, voice)
        self.enqueue(jobs)
        return jobs

    def batch(self, *, voice: PreparedVoice | NamedVoice | str, out: str, fmt: str = "mp3", size: int = 500) -> SubmitBatch:
        """Jobs added one at a time, sent `size` at a time: the fast way to submit from a loop.

            with submitter.batch(voice="7f92f8af...", out="s3://bucket/news") as batch:
                for story in stories:
                    batch.add(story.text, title=story.slug)
        """
        target = self._target(voice=voice, out=out, fmt=fmt)
        self._prepare_bucket(target, voice)
        return SubmitBatch(self, target, size=size)

    def _target(self, *, voice: PreparedVoice | NamedVoice | str, out: str, fmt: str) -> _Target:
        bucket, prefix = parse_out(out)
        output = Output(bucket=bucket, prefix=prefix, format=check_format(fmt))  # type: ignore[arg-type]
        return _Target(output=output, voice=job_voice_for(voice, bucket=bucket))

    def _prepare_bucket(self, target: _Target, voice: PreparedVoice | NamedVoice | str) -> None:
        """The bucket exists and holds the clips; checked again only after a while (submitting in a loop stays fast)."""
        bucket = target.output.bucket
        if not self._seen_lately(bucket):
            try:
                self._storage.check_bucket(bucket)
            except StorageRejected as exc:
                raise BadInput(str(exc)) from exc
            self._checked[bucket] = time.monotonic()
        if isinstance(voice, PreparedVoice) and not self._seen_lately(f"{bucket}/{voice.reference_hash}"):
            upload_clips(self._storage, bucket, voice)
            self._checked[f"{bucket}/{voice.reference_hash}"] = time.monotonic()

    def _seen_lately(self, what: str) -> bool:
        return time.monotonic() - self._checked.get(what, -BUCKET_RECHECK_SECONDS) < BUCKET_RECHECK_SECONDS

    def _check_text(self, source: TextSource) -> None:
        """What the worker would refuse, refused here before anything is uploaded or enqueued."""
        size = len(source.text.encode("utf-8"))
        if self._max_text_bytes is not None and size > self._max_text_bytes:
            raise BadInput(
                f"{source.name}: the text is {size} bytes, over the limit of {self._max_text_bytes}"
                " (NARRATE_MAX_TEXT_BYTES): split it into several files"
            )
        check_text_characters(source.text, where=f"{source.name}: the text")

    def enqueue(self, jobs: list[RenderJob]) -> None:
        """Record every job as queued, then send it: a worker always finds the record."""
        messages = {job.job_id: job.model_dump_json() for job in jobs}
        self._store.create([_queued_record(job) for job in jobs], messages=messages)

        def mark_unsent(unsent: list[RenderJob], exc: BaseException) -> None:
            # Records without a message would wait forever: mark them failed, so `narrate retry --failed` sends them.
            for job in unsent:
                self._store.mark_failed(job.job_id, error=f"not enqueued ({exc.__class__.__name__}): run `narrate retry --failed`")

        send_render_jobs(self._app, jobs, on_unsent=mark_unsent)


class SubmitBatch:
    """Jobs added one by one, recorded and enqueued in bulk; what is added is sent, also when the loop raises."""

    def __init__(self, submitter: Submitter, target: _Target, *, size: int) -> None:
        if size < 1:
            raise ValueError("a batch size is at least 1")
        self._submitter = submitter
        self._target = target
        self._size = size
        self._pending: list[RenderJob] = []
        self.sent: list[RenderJob] = []

    def add(self, text: str, *, title: str = "") -> RenderJob:
        """Check the text (BadInput if the worker would refuse it) and queue it to be sent."""
        source = TextSource(name=title or f"job {len(self.sent) + len(self._pending) + 1}", text=text)
        if not text.strip():
            raise BadInput(f"{source.name}: the text is empty: there is nothing to narrate")
        self._submitter._check_text(source)
        job = self._target.job(source)
        self._pending.append(job)
        if len(self._pending) >= self._size:
            self.flush()
        return job

    def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            self._submitter.enqueue(pending)
            self.sent.extend(pending)

    def __enter__(self) -> SubmitBatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def job_voice_for(voice: PreparedVoice | NamedVoice | str, *, bucket: str) -> ClipVoice | ModelVoice:
    """The voice as a job message carries it: clip keys and hashes, or a Fish voice id."""
    try:
        if isinstance(voice, str):
            return ModelVoice(reference_id=voice)
        if isinstance(voice, NamedVoice):
            named = [
                Clip(bucket=None if c.bucket == bucket else c.bucket, key=c.key, sha256=c.sha256, size=c.size, transcript=c.transcript)
                for c in voice.clips
            ]
            return ClipVoice(reference_hash=voice.reference_hash, clips=named)
        clips = [
            Clip(key=keys.reference_clip(c.sha256, c.extension), sha256=c.sha256, size=len(c.data), transcript=c.transcript)
            for c in voice.clips
        ]
        return ClipVoice(reference_hash=voice.reference_hash, clips=clips)
    except ValueError as exc:
        raise BadInput(f"invalid voice: {exc}") from exc


def upload_clips(storage: Storage, bucket: str, voice: PreparedVoice) -> list[ClipRef]:
    """Put each clip at its content address once; an object already there is not sent again."""
    refs = []
    for clip in voice.clips:
        key = keys.reference_clip(clip.sha256, clip.extension)
        if not storage.exists(bucket, key):
            storage.put(bucket, key, clip.data, content_type=_clip_content_type(clip.extension))
        refs.append(ClipRef(bucket=bucket, key=key, sha256=clip.sha256, size=len(clip.data), transcript=clip.transcript))
    return refs


def _queued_record(job: RenderJob) -> JobRecord:
    voice: Any = job.voice
    return JobRecord(
        job_id=job.job_id,
        state="queued",
        title=job.title,
        text_bytes=len(job.text.encode("utf-8")),
        voice_mode="one_shot" if isinstance(voice, ClipVoice) else "reference_id",
        reference_hash=voice.reference_hash if isinstance(voice, ClipVoice) else "",
        submitted_at=job.submitted_at.isoformat(),
    )


def _clip_content_type(extension: str) -> str:
    return {"wav": "audio/wav", "mp3": "audio/mpeg", "ogg": "audio/ogg", "opus": "audio/ogg", "flac": "audio/flac", "m4a": "audio/mp4"}.get(
        extension, "application/octet-stream"
    )
