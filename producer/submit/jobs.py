"""Build jobs, upload reference clips once (claim check), record and enqueue.

Everything is validated before the first side effect: a bad input uploads
nothing and enqueues nothing.

    submitter = Submitter.from_settings(get_settings())
    voice = prepare_clip_voice([ClipInput(Path("ref.wav"), "Exact words.")])
    jobs = submitter.submit(sources=[read_text("ch1.txt")], voice=voice, out="s3://bucket/book", fmt="mp3")
"""

from __future__ import annotations

import dataclasses
import time
from urllib.parse import urlsplit

from celery import Celery

from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.text import TextSource
from producer.submit.clips import NamedVoice, PreparedVoice, job_voice_for, upload_clips
from producer.submit.grant import Grant
from producer.submit.job_target import JobTarget, queued_record
from producer.submit.lexicons import Lexicons, with_voice_lexicons
from producer.submit.notify import NotifyBatch, job_notify
from producer.submit.publish import send_render_jobs
from producer.submit.sent_events import SentEvents
from producer.submit.submit_batch import SubmitBatch
from worker.app import make_app
from worker.audio import codec
from worker.contract import (
    Output,
    RenderJob,
    Synthesis,
    check_bucket,
    check_prefix,
)
from worker.errors import BadInput, StorageRejected
from worker.jobs.records import JobStore
from worker.jobs.validate import (
    check_text_characters,
)
from worker.settings import Settings, default_synthesis, get_settings
from worker.storage import Storage
from worker.webhooks.submitted import check_notify_url


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
    if fmt not in codec.FORMATS:
        raise BadInput(f"--format {fmt!r}: unknown format; use one of {', '.join(codec.FORMATS)}")
    return fmt


# A bucket, or a voice's clips in it, found this recently is not asked for again.
BUCKET_RECHECK_SECONDS = 60.0


class Submitter:
    def __init__(
        self,
        *,
        storage: Storage,
        store: JobStore,
        app: Celery,
        max_text_bytes: int | None = None,
        synthesis: Synthesis = Synthesis(),
        grant: Grant = Grant(),
        settings: Settings | None = None,
    ) -> None:
        """`synthesis`: the defaults every job gets (the environment's, with from_settings); a call's own win.

        `grant`: where jobs may be written and which voices they may use (grant.py); by default, anywhere and any.
        """
        self._grant = grant
        self._checked: dict[str, float] = {}  # bucket, or bucket/reference: when last found there
        self._synthesis = synthesis
        self._storage = storage
        self._store = store
        self._app = app
        self._events = SentEvents(app)  # whether a monitor hears task-sent events, from one send to the next
        self._max_text_bytes = max_text_bytes
        self._settings = settings  # webhooks are checked under its policy (the environment's when None)

    @classmethod
    def from_settings(cls, settings: Settings, *, grant: Grant = Grant()) -> Submitter:
        return cls(
            grant=grant,
            storage=Storage.from_settings(settings),
            store=JobStore.from_url(
                settings.broker_url, master_name=settings.redis_master_name, ttl_seconds=settings.record_ttl_seconds
            ),
            app=make_app(settings),
            max_text_bytes=settings.max_text_bytes,
            synthesis=default_synthesis(settings),
            settings=settings,
        )

    def submit(
        self,
        *,
        sources: list[TextSource],
        voice: PreparedVoice | NamedVoice | str,
        out: str,
        fmt: str = "mp3",
        synthesis: Synthesis = Synthesis(),
        lexicons: Lexicons = Lexicons(),
        notify: str | None = None,
        notify_batch: NotifyBatch | str | None = None,
        qc: QcChoice = NOT_ASKED,
    ) -> list[RenderJob]:
        """One job per source; `voice` is prepared clips, a named voice, or an existing Fish voice id.

        `lexicons` apply to every text, after the named voice's own. `notify`: each job's webhook; `notify_batch`:
        one webhook when all have ended (a URL, or a batch from `open_batch` shared by several calls).
        `qc`: proof-listening, unset: NARRATE_QC, else off.
        """
        if not sources:
            raise BadInput("no text to narrate: pass at least one file (or '-' for stdin)")
        for source in sources:
            self.check_text(source)
        target = self._with_notify(
            self._target(voice=voice, out=out, fmt=fmt, synthesis=synthesis, lexicons=lexicons, qc=qc),
            notify=notify,
            notify_batch=notify_batch,
        )
        jobs = [target.job(source) for source in sources]
        self._prepare_bucket(target, voice)
        if target.batch:
            target.batch.add(len(jobs))
        self.enqueue(jobs)
        if target.batch and isinstance(notify_batch, str):
            target.batch.seal()
        return jobs

    def batch(
        self,
        *,
        voice: PreparedVoice | NamedVoice | str,
        out: str,
        fmt: str = "mp3",
        size: int = 500,
        synthesis: Synthesis = Synthesis(),
        lexicons: Lexicons = Lexicons(),
        notify: str | None = None,
        notify_batch: str | None = None,
        qc: QcChoice = NOT_ASKED,
    ) -> SubmitBatch:
        """Jobs added one at a time, sent `size` at a time: the fast way to submit from a loop.

        with submitter.batch(voice="7f92f8af...", out="s3://bucket/news") as batch:
            for story in stories:
                batch.add(story.text, title=story.slug)
        """
        target = self._with_notify(
            self._target(voice=voice, out=out, fmt=fmt, synthesis=synthesis, lexicons=lexicons, qc=qc),
            notify=notify,
            notify_batch=notify_batch,
        )
        self._prepare_bucket(target, voice)
        return SubmitBatch(self, target, size=size)

    def open_batch(self, url: str) -> NotifyBatch:
        """A batch webhook for jobs of several `submit` calls: pass it as `notify_batch`, then `seal()` it."""
        return NotifyBatch(url, settings=self._settings or get_settings(), app=self._app)

    def _with_notify(
        self, target: JobTarget, *, notify: str | None, notify_batch: NotifyBatch | str | None
    ) -> JobTarget:
        """The target with its webhooks, checked first: a refused URL opens no batch and sends nothing."""
        for url, option in (
            (notify, "notify"),
            (notify_batch if isinstance(notify_batch, str) else None, "notify_batch"),
        ):
            if url is not None:
                self._grant.check_notify(url, where=f"submit: {option}")
        check_notify_url(notify, settings=self._settings or get_settings())
        batch = self.open_batch(notify_batch) if isinstance(notify_batch, str) else notify_batch
        return dataclasses.replace(target, notify=job_notify(notify, batch), batch=batch)

    def _target(
        self,
        *,
        voice: PreparedVoice | NamedVoice | str,
        out: str,
        fmt: str,
        synthesis: Synthesis,
        lexicons: Lexicons,
        qc: QcChoice,
    ) -> JobTarget:
        self._grant.check_submission(out=out, voice=voice, where="submit")
        bucket, prefix = parse_out(out)
        output = Output(bucket=bucket, prefix=prefix, format=check_format(fmt))  # type: ignore[arg-type]
        return JobTarget(
            output=output,
            voice=job_voice_for(voice, bucket=bucket),
            synthesis=self._synthesis.merged(synthesis),
            lexicons=with_voice_lexicons(self._storage, voice, lexicons),
            qc=qc.for_job(self._settings or get_settings()),
        )

    def _prepare_bucket(self, target: JobTarget, voice: PreparedVoice | NamedVoice | str) -> None:
        """The bucket exists and holds the clips; checked again only after a while (submitting in a loop stays fast)."""
        bucket = target.output.bucket
        if not self._seen_lately(bucket):
            try:
                self._storage.check_bucket(bucket)
            except StorageRejected as exc:
                raise BadInput(str(exc)) from exc
            self._checked[bucket] = time.monotonic()
        for lexicon in target.lexicons.files:
            if not self._seen_lately(f"{bucket}/{lexicon.key}"):
                Lexicons((lexicon,)).upload(self._storage, bucket)
                self._checked[f"{bucket}/{lexicon.key}"] = time.monotonic()
        if isinstance(voice, PreparedVoice) and not self._seen_lately(f"{bucket}/{voice.reference_hash}"):
            upload_clips(self._storage, bucket, voice)
            self._checked[f"{bucket}/{voice.reference_hash}"] = time.monotonic()

    def _seen_lately(self, what: str) -> bool:
        return time.monotonic() - self._checked.get(what, -BUCKET_RECHECK_SECONDS) < BUCKET_RECHECK_SECONDS

    def check_text(self, source: TextSource) -> None:
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
        self._store.create([queued_record(job) for job in jobs], messages=messages)

        def mark_unsent(unsent: list[RenderJob], exc: BaseException) -> None:
            # Records without a message would wait forever: mark them failed, so `narrate retry --failed` sends them.
            for job in unsent:
                self._store.mark_failed(
                    job.job_id, error=f"not enqueued ({exc.__class__.__name__}): run `narrate retry --failed`"
                )

        send_render_jobs(self._app, jobs, on_unsent=mark_unsent, events=self._events)
