"""The in-process audiobook fault tests' world: a book of two chapters submitted for real, S3 that refuses or slows
down as told, a book step that fails as told, and the tasks run one by one."""

from __future__ import annotations

import time
from pathlib import Path

from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from tests.support.epubs import write_epub
from worker import keys
from worker.books import tasks
from worker.books.chunk import Rendered, render_chunk
from worker.books.context import BookContext
from worker.books.plan import BookPlan, ChunkMessage, chunk_messages
from worker.books.tasks import BookTask
from worker.books.units import BookUnit
from worker.errors import StorageUnavailable
from worker.settings import Settings, get_settings
from worker.storage import Storage

CHAPTERS = [
    (
        "Long",
        [
            "The first paragraph of the long chapter.",
            "The second paragraph comes next.",
            "A third paragraph follows it.",
            "The fourth and last paragraph.",
        ],
    ),
    ("Short", ["Only one paragraph here."]),
]


class FlakyStorage(Storage):
    """S3 as the tests need it: a PUT or GET refused once, GETs slowed down, uploads recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse_put: set[str] = set()  # keys whose next PUT fails
        self.refuse_get: dict[str, tuple[int, Exception]] = {}  # key: (the n-th GET of it fails, with this)
        self.gets: dict[str, int] = {}
        self.uploads: list[str] = []
        self.slow_get = 0.0
        self.on_get = lambda: None

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        if key in self.refuse_put:
            self.refuse_put.discard(key)
            raise StorageUnavailable(f"s3://{bucket}/{key}: S3 is unreachable (test)")
        super().put(bucket, key, data, content_type=content_type)

    def put_file(self, bucket: str, key: str, path: str, *, content_type: str) -> None:
        self.uploads.append(key)
        super().put_file(bucket, key, path, content_type=content_type)

    def compose(self, bucket: str, key: str, pieces: list, *, content_type: str, scratch) -> None:  # noqa: ANN001
        self.uploads.append(key)
        super().compose(bucket, key, pieces, content_type=content_type, scratch=scratch)

    def get(self, bucket: str, key: str) -> bytes | None:
        self.gets[key] = self.gets.get(key, 0) + 1
        if key in self.refuse_get and self.refuse_get[key][0] == self.gets[key]:
            raise self.refuse_get.pop(key)[1]
        if self.slow_get and key.startswith("chunks/"):
            time.sleep(self.slow_get)
            self.on_get()
        return super().get(bucket, key)


def submit(bucket: str, voice, tmp_path: Path, *, name: str = "b", notify_url: str | None = None) -> BookPlan:  # noqa: ANN001
    path = write_epub(tmp_path / f"{name}.epub", title=f"Book {name}", author="A", chapters=CHAPTERS, cover=False)
    plan, _ = BookSubmitter.from_settings(Settings()).submit(
        read_book(str(path)), voice=voice, out=f"s3://{bucket}/{name}", notify_url=notify_url
    )
    return plan


def render_all(plan: BookPlan, ctx: BookContext) -> None:
    for message in chunk_messages(plan):
        render_one(message, plan, ctx)


def render_one(message: ChunkMessage, plan: BookPlan, ctx: BookContext) -> Rendered:
    """What the chunk task does with one chunk, in-process: rendered (and heard), its summary kept, counted done."""
    done = render_chunk(message, plan, ctx=ctx)
    if done.qc is not None:
        ctx.state.chunk_heard(plan.book_id, message.chapter, message.index, done.qc)
    ctx.state.chunk_done(
        plan.book_id, message.chapter, message.index, rendered=done.rendered, billed_bytes=done.billed_bytes
    )
    return done


def chapter_key(plan: BookPlan, index: int) -> str:
    return keys.book_chapter_audio(plan.output.prefix, plan.book_id, index, plan.output.format)


def run_chapter(plan: BookPlan, index: int):  # noqa: ANN201
    return tasks.chapter.apply(args=(plan.book_id, plan.output.bucket, plan.output.prefix, index))


class FlakyStep(BookTask):
    """A book step that fails as told, then succeeds."""

    name = "tests.book.flaky_step"
    failures_to_come: list[BaseException] = []
    calls = 0

    def unit_of(self, args, kwargs) -> BookUnit:
        return BookUnit(
            tasks.book_context().state, args[0], field="flaky", label="the flaky step", settings=get_settings()
        )

    def perform(self, unit: BookUnit) -> str:
        type(self).calls += 1
        if self.failures_to_come:
            raise self.failures_to_come.pop(0)
        return "done"


flaky_step = tasks.app.register_task(FlakyStep())


def run_step(book_id: str, *failures: BaseException, always: BaseException | None = None):  # noqa: ANN201
    FlakyStep.calls = 0
    FlakyStep.failures_to_come = list(failures) if always is None else [always] * 50
    return flaky_step.apply(args=(book_id,))
