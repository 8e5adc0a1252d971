"""The assembly benchmark's book: a pool of paragraphs spoken once at 44.1 kHz and stored at the keys the real
`plan_chapter` gives them, books of 30-minute chapters planned from that pool, and their chapter tasks sent to a real
worker."""

from __future__ import annotations

import json
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from worker import keys
from worker.app import ASSEMBLY_QUEUE
from worker.audio import codec
from worker.books.plan import BookPlan, PlanChapter, plan_chapter
from worker.contract import BOOK_CHAPTER_TASK, ModelVoice, Output
from worker.settings import get_settings

RATE = 44_100
CHAPTER_SECONDS = 1800.0
BIT_RATE = 192_000
VOICE = ModelVoice(reference_id="benchvoice")


PARAGRAPHS = 14  # distinct paragraphs; chapters take them in rotation


_WORDS = (
    "river",
    "lantern",
    "harbour",
    "morning",
    "letter",
    "garden",
    "mountain",
    "window",
    "winter",
    "station",
    "captain",
    "meadow",
    "silver",
    "journey",
    "evening",
    "bridge",
    "village",
    "promise",
    "shadow",
    "orchard",
)


def paragraph(n: int) -> str:
    """A paragraph of 4 to 14 distinct sentences: one or two chunks, 6 to 60 seconds spoken (about 40 on average)."""
    sentences = []
    for s in range(4 + (n * 5) % 11):
        a, b, c = (_WORDS[(n * 7 + s * k) % len(_WORDS)] for k in (1, 3, 5))
        sentences.append(f"In part {n}, line {s}, the {a} by the {b} waited for the {c}, as it had every day before.")
    return " ".join(sentences)


def store_chunks(bucket: str) -> dict[str, float]:
    """Speak every distinct chunk of the paragraph pool once and store it at 44.1 kHz; returns each paragraph's
    seconds."""
    from producer.dev.emulator import speech
    from worker.storage import Storage

    storage, settings = Storage.from_settings(get_settings()), get_settings()
    seconds: dict[str, float] = {}
    for n in range(PARAGRAPHS):
        text = paragraph(n)
        chapter = plan_chapter(
            index=0, title="", text=text, voice=VOICE, model=settings.fish_model, max_bytes=settings.chunk_bytes
        )
        total = 0.0
        for chunk in chapter.chunks:
            pcm, native = speech.synthesize(chunk.text)
            pcm = codec.resample_pcm16(pcm, from_rate=native, to_rate=RATE)
            storage.put(
                bucket,
                chunk.key,
                codec.encode_pcm16(pcm, sample_rate=RATE, fmt="wav"),
                content_type=codec.CONTENT_TYPES["wav"],
            )
            total += len(pcm) / 2 / RATE
        seconds[text] = total + (len(chapter.chunks) - 1) * 0.25  # sentence pauses inside the paragraph
    return seconds


def plan_book(bucket: str, *, hours: float, paragraphs: dict[str, float]) -> BookPlan:
    """Chapters of about 30 minutes, each from the pool in its own rotation, as the producer would plan them."""
    settings = get_settings()
    texts = list(paragraphs)
    chapters: list[PlanChapter] = []
    for index in range(max(1, round(hours * 3600 / CHAPTER_SECONDS))):
        chosen, length, n = [], 0.0, index
        while length < CHAPTER_SECONDS:
            text = texts[n % len(texts)]
            chosen.append(text)
            length += paragraphs[text] + 0.7
            n += 1
        chapters.append(
            plan_chapter(
                index=index,
                title=f"Chapter {index + 1}",
                text="\n\n".join(chosen),
                voice=VOICE,
                model=settings.fish_model,
                max_bytes=settings.chunk_bytes,
            )
        )
    book_id = uuid.uuid4().hex
    return BookPlan(
        book_id=book_id,
        title=f"A {hours:g}-hour book",
        author="Bench Author",
        language="en",
        source="bench",
        voice=VOICE,
        output=Output(bucket=bucket, prefix=f"books-{book_id[:8]}", format="mp3"),
        fish_model=settings.fish_model,
        target_rms_db=settings.target_rms_db,
        submitted_at=datetime.now(UTC),
        chapters=chapters,
        bit_rate=BIT_RATE,
    )


class Book:
    """A planned book stored as a submission stores it, its chapter tasks sent to a real worker."""

    def __init__(self, plan: BookPlan) -> None:
        from worker.app import make_app
        from worker.books.state import BookState
        from worker.storage import Storage

        self.plan = plan
        self.storage, self.state = Storage.from_settings(get_settings()), BookState.from_url(get_settings().broker_url)
        self.app = make_app(get_settings())  # made now: the stack's broker
        self.storage.put(
            plan.output.bucket,
            keys.book_plan(plan.output.prefix, plan.book_id),
            plan.model_dump_json().encode(),
            content_type="application/json",
        )
        self.state.create(plan, cached=plan.chunk_count, estimated_cost_usd=0.0, notify_url=None)

    def send_chapter(self, index: int) -> None:
        self.app.send_task(
            BOOK_CHAPTER_TASK,
            args=(self.plan.book_id, self.plan.output.bucket, self.plan.output.prefix, index),
            queue=ASSEMBLY_QUEUE,
        )

    def wait_chapters(self, indexes: set[int]) -> None:
        while not indexes <= self.state.chapters_done(self.plan.book_id):
            self._check()
            time.sleep(0.05)

    def wait_book(self) -> float:
        while self.state.state_of(self.plan.book_id) != "succeeded":
            self._check()
            time.sleep(0.02)
        return time.monotonic()

    def copy_part(self, source: int, target: int) -> None:
        """Chapter `target` done, with chapter `source`'s part as its own (as if its task had run)."""
        bucket, prefix, book_id = self.plan.output.bucket, self.plan.output.prefix, self.plan.book_id
        # Uploaded again rather than copied in S3: the S3 server here gets the checksum of a copy wrong.
        frames = Path(tempfile.gettempdir()) / f"narrate-bench-part-{book_id}.aac"
        if not frames.exists():
            self.storage.get_file(bucket, keys.book_part(prefix, book_id, source, "aac"), str(frames))
        self.storage.put_file(
            bucket, keys.book_part(prefix, book_id, target, "aac"), str(frames), content_type="audio/aac"
        )
        record = self.storage.get(bucket, keys.book_part(prefix, book_id, source, "npz")) or b""
        self.storage.put(
            bucket, keys.book_part(prefix, book_id, target, "npz"), record, content_type="application/octet-stream"
        )
        decoded = self.state.get(book_id)["chapters"][source]  # type: ignore[index]
        fields = {
            name: json.dumps(value) if isinstance(value, (dict, list)) else value for name, value in decoded.items()
        }
        fields.pop("index", None)
        fields.pop("state", None)
        fields["title"] = self.plan.chapters[target].title
        self.state.chapter_done(book_id, target, **fields)

    def _check(self) -> None:
        if self.state.state_of(self.plan.book_id) == "failed":
            raise RuntimeError(f"the benchmark book failed: {(self.state.get(self.plan.book_id) or {}).get('error')}")
