"""Plan, estimate and submit audiobooks: one chunk task per chunk, nothing enqueued on bad input.

submitter = BookSubmitter.from_settings(get_settings())
plan, estimate = submitter.submit(read_book("moby.epub"), voice=voice, out="s3://books/moby")
"""

from __future__ import annotations

import mimetypes
import uuid
from datetime import UTC, datetime

from celery import Celery

from producer.readers.books import BookText, ChapterText
from producer.readers.quality import NOT_ASKED, QC_OFF, QcChoice
from producer.readers.selection import ChapterChoice, choose
from producer.submit.book_estimate import Estimate, estimate
from producer.submit.bookparts import (
    check_spool_fits,
    credits_for,
    split_long_chapters,
)
from producer.submit.clips import NamedVoice, PreparedVoice, job_voice_for, upload_clips
from producer.submit.grant import Grant
from producer.submit.jobs import check_format, parse_out
from producer.submit.lexicons import Lexicons, with_voice_lexicons
from producer.submit.read_along import ReadAlongSource, check_read_along_format, marked_book, read_along_plan
from worker import keys
from worker.app import make_app
from worker.books.plan import BookPlan, Pauses, chunk_messages, plan_chapter
from worker.books.presets import DEFAULT_PRESET, PRESETS, Preset, preset_named
from worker.books.state import BookState
from worker.contract import BOOK_CHUNK_TASK, QUEUE, Output, QualityCheck, Synthesis
from worker.errors import BadInput, StorageRejected
from worker.settings import Settings, default_synthesis
from worker.storage import Storage
from worker.webhooks.receivers import without_query
from worker.webhooks.submitted import check_notify_url

EPUB_TYPE = "application/epub+zip"

__all__ = ["BookSubmitter", "Estimate", "estimate", "make_plan"]  # estimate and Estimate live in book_estimate.py


def make_plan(
    book: BookText,
    *,
    voice: object,
    output: Output,
    settings: Settings,
    pauses: Pauses,
    notify_url: str | None,
    cover_key: str | None = None,
    title: str | None = None,
    preset: Preset = PRESETS[DEFAULT_PRESET],
    synthesis: Synthesis = Synthesis(),
    narrator: str = "",
    lexicons: Lexicons = Lexicons(),
    qc: QualityCheck = QC_OFF,
) -> BookPlan:
    """`synthesis`: the book's own settings, over the preset's, over the environment's; `narrator`: for the credits.

    `lexicons` apply to every chapter's text before it is chunked (credits included). `qc`: its proof-listening.
    """
    synthesis = default_synthesis(settings).merged(preset.synthesis).merged(synthesis)
    parts = _parts(book, preset=preset, speed=synthesis.speed or 1.0, narrator=narrator)
    chapters = [
        plan_chapter(
            index=i,
            title=c.title,
            text=c.text,
            voice=voice,
            model=settings.fish_model,  # type: ignore[arg-type]
            max_bytes=settings.chunk_bytes,
            synthesis=synthesis,
            role=role,
            lexicon=lexicons.lexicon,
            language=book.language,
            document=c.document,
            first_paragraph=c.first_paragraph,
        )
        for i, (role, c) in enumerate(parts)
    ]
    return BookPlan(
        book_id=uuid.uuid4().hex,
        title=title or book.title,
        author=book.author,
        language=book.language,
        source=book.source,
        cover_key=cover_key,
        cover_type=book.cover_type if cover_key else "",
        voice=voice,
        output=output,  # type: ignore[arg-type]
        fish_model=settings.fish_model,
        pauses=pauses,
        target_rms_db=settings.target_rms_db,
        # the query (often a token) stays in the book's record
        notify_url=without_query(notify_url) if notify_url else None,
        submitted_at=datetime.now(UTC),
        chapters=chapters,
        preset=preset.name,
        synthesis=synthesis,
        bit_rate=preset.bit_rate,
        retail_sample_seconds=preset.retail_sample_seconds,
        lexicons=lexicons.refs(),
        qc=qc,
    )


class BookSubmitter:
    def __init__(
        self, *, settings: Settings, storage: Storage, state: BookState, app: Celery, grant: Grant = Grant()
    ) -> None:
        """`grant`: where books may be written, their voices, webhooks and budget (grant.py); by default, no bound."""
        self._grant = grant
        self._settings = settings
        self._storage = storage
        self._state = state
        self._app = app
        self._marked: dict[str, bytes] = {}  # book id -> its marked EPUB, stored with the plan

    @classmethod
    def from_settings(cls, settings: Settings, *, grant: Grant = Grant()) -> BookSubmitter:
        return cls(
            settings=settings,
            storage=Storage.from_settings(settings),
            state=BookState.from_url(settings.broker_url, master_name=settings.redis_master_name),
            app=make_app(settings),
            grant=grant,
        )

    def plan(
        self,
        book: BookText,
        *,
        voice: PreparedVoice | NamedVoice | str,
        out: str,
        fmt: str | None = None,
        pauses: Pauses | None = None,
        notify_url: str | None = None,
        title: str | None = None,
        preset: str | None = None,
        chapters: ChapterChoice = ChapterChoice(),
        synthesis: Synthesis = Synthesis(),
        lexicons: Lexicons = Lexicons(),
        qc: QcChoice = NOT_ASKED,
        read_along: ReadAlongSource | None = None,
    ) -> BookPlan:
        """`fmt` None: the preset's format, else mp3; `preset` None: NARRATE_PRESET; `chapters`: the body by default.

        `lexicons` apply after the named voice's own; `qc` unset: NARRATE_QC, else the preset's (quality.py).
        `read_along`: the book's file, whose text is marked for a read-along EPUB (read_along.py).
        """
        self._grant.check_submission(out=out, voice=voice, where=book.source)
        if notify_url is not None:
            self._grant.check_notify(notify_url, where=f"{book.source}: notify")
        whole, book = book, choose(book, chapters)
        chosen = _preset(preset or self._settings.preset)
        if chosen.format and fmt and fmt != chosen.format:
            raise BadInput(f"--preset {chosen.name} writes {chosen.format} chapters; leave --format {fmt} off")
        bucket, prefix = parse_out(out)
        chapter_format = check_format(chosen.format or fmt or "mp3")
        marked = None
        if read_along is not None:
            check_read_along_format(chapter_format)
            book, marked = marked_book(book, read_along, whole=whole)
        output = Output(bucket=bucket, prefix=prefix, format=chapter_format)  # type: ignore[arg-type]
        check_notify_url(notify_url, settings=self._settings)
        plan = make_plan(
            book,
            voice=job_voice_for(voice, bucket=bucket),
            output=output,
            settings=self._settings,
            pauses=pauses or Pauses(),
            notify_url=notify_url,
            title=title,
            preset=chosen,
            synthesis=synthesis,
            narrator=_narrator(voice),
            lexicons=with_voice_lexicons(self._storage, voice, lexicons),
            qc=qc.resolved(self._settings, default=chosen.qc, language=book.language),
        )
        if marked is not None:
            plan = read_along_plan(plan)
            self._marked[plan.book_id] = marked
        if book.cover:
            extension = (mimetypes.guess_extension(book.cover_type) or ".img").lstrip(".")
            plan = plan.model_copy(
                update={"cover_key": keys.book_cover(prefix, plan.book_id, extension), "cover_type": book.cover_type}
            )
        return plan

    def estimate(self, plan: BookPlan, *, without: BookPlan | None = None) -> Estimate:
        settings = self._settings
        prices = {
            "price_per_million": settings.price_per_million_bytes,
            "asr_per_hour": settings.asr_price_per_hour,
            "retake_share": settings.qc_expected_retake_share,
        }
        try:
            self._storage.check_bucket(plan.output.bucket)
        except StorageRejected:
            return estimate(plan, **prices, storage=None, without=without)
        return estimate(plan, **prices, storage=self._storage, without=without)

    def submit(
        self,
        book: BookText,
        *,
        voice: PreparedVoice | NamedVoice | str,
        out: str,
        fmt: str | None = None,
        pauses: Pauses | None = None,
        notify_url: str | None = None,
        budget_usd: float | None = None,
        title: str | None = None,
        preset: str | None = None,
        chapters: ChapterChoice = ChapterChoice(),
        synthesis: Synthesis = Synthesis(),
        lexicons: Lexicons = Lexicons(),
        qc: QcChoice = NOT_ASKED,
        read_along: ReadAlongSource | None = None,
    ) -> tuple[BookPlan, Estimate]:
        budget_usd = self._grant.check_budget(budget_usd, where=f"{book.source}: budget")
        plan = self.plan(
            book,
            voice=voice,
            out=out,
            fmt=fmt,
            pauses=pauses,
            notify_url=notify_url,
            title=title,
            preset=preset,
            chapters=chapters,
            synthesis=synthesis,
            lexicons=lexicons,
            qc=qc,
            read_along=read_along,
        )
        check_spool_fits(plan, limit_bytes=self._settings.spool_limit_bytes)  # before anything is stored, sent or paid
        bucket = plan.output.bucket
        try:
            self._storage.check_bucket(bucket)
        except StorageRejected as exc:
            raise BadInput(str(exc)) from exc
        cost = self.estimate(plan)
        cost.check_budget(budget_usd, where=book.source)  # hearing and the retakes expected included
        self._store(plan, book, voice=voice, lexicons=lexicons)
        self._state.create(
            plan, cached=cost.cached_chunks or 0, estimated_cost_usd=cost.total_cost_usd, notify_url=notify_url
        )
        for message in chunk_messages(plan):
            self._app.send_task(BOOK_CHUNK_TASK, args=[message.model_dump(mode="json")], queue=QUEUE)
        return plan, cost

    def _store(
        self, plan: BookPlan, book: BookText, *, voice: PreparedVoice | NamedVoice | str, lexicons: Lexicons
    ) -> None:
        """What the workers read from S3: the voice's clips, the lexicons, the cover and the plan itself."""
        bucket = plan.output.bucket
        if isinstance(voice, PreparedVoice):
            upload_clips(self._storage, bucket, voice)
        lexicons.upload(self._storage, bucket)
        if plan.cover_key and book.cover:
            self._storage.put(bucket, plan.cover_key, book.cover, content_type=book.cover_type)
        if plan.read_along:
            self._storage.put(bucket, plan.read_along, self._marked.pop(plan.book_id), content_type=EPUB_TYPE)
        self._storage.put(
            bucket,
            keys.book_plan(plan.output.prefix, plan.book_id),
            plan.model_dump_json().encode(),
            content_type="application/json",
        )


def _parts(book: BookText, *, preset: Preset, speed: float, narrator: str) -> list[tuple[str, ChapterText]]:
    """The book's chapters with their roles, in order: the preset's credits around the body, whose chapters are split
    where the preset caps their length."""
    body = book.chapters
    if preset.max_chapter_minutes:
        body = split_long_chapters(body, max_minutes=preset.max_chapter_minutes, speed=speed)
    parts: list[tuple[str, ChapterText]] = [("body", c) for c in body]
    if preset.credits:
        opening, closing = credits_for(book, narrator=narrator)
        parts = [("opening_credits", opening), *parts, ("closing_credits", closing)]
    return parts


def _preset(name: str) -> Preset:
    try:
        return preset_named(name)
    except ValueError as exc:
        raise BadInput(f"--preset: {exc}") from exc


def _narrator(voice: PreparedVoice | NamedVoice | str) -> str:
    """The voice's display name, for "narrated by": a named voice's; a clip or a bare Fish id has none."""
    return voice.name if isinstance(voice, NamedVoice) else ""
