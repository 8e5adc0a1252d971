"""`narrate retry BOOK_ID`: the producer's side, sending a book's missing work through its own Celery app."""

from __future__ import annotations

from producer.cli.console import console, errors
from worker.app import make_app
from worker.books.context import BookContext
from worker.books.reconcile import Enqueue
from worker.books.retry import retry_book
from worker.books.state import BookState
from worker.contract import ASSEMBLY_QUEUE, BOOK_ASSEMBLE_TASK, BOOK_CHAPTER_TASK, BOOK_CHUNK_TASK, QUEUE
from worker.errors import NarrateError
from worker.fish.client import FishClient
from worker.infra.redisconn import connect_with
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext


def retry_books(book_ids: list[str], *, settings: Settings) -> int:
    """Start each book again; the number that were. Each one's outcome is printed."""
    app = make_app(settings)
    enqueue = Enqueue(
        chunk=lambda message: app.send_task(BOOK_CHUNK_TASK, args=[message.model_dump(mode="json")], queue=QUEUE),
        chapter=lambda *args: app.send_task(BOOK_CHAPTER_TASK, args=list(args), queue=ASSEMBLY_QUEUE),
        book=lambda *args: app.send_task(BOOK_ASSEMBLE_TASK, args=list(args), queue=ASSEMBLY_QUEUE),
    )
    # The plan is read from S3 as the workers read it; nothing here calls Fish.
    render = RenderContext(settings=settings, storage=Storage.from_settings(settings), fish=FishClient(settings))
    ctx = BookContext(render=render, state=BookState(connect_with(settings)))
    retried = 0
    for book_id in book_ids:
        try:
            counts = retry_book(book_id, ctx=ctx, enqueue=enqueue)
        except NarrateError as exc:  # no such book, finished, or its plan is gone
            errors.print(str(exc), markup=False)
            continue
        retried += 1
        console.print(
            f"{book_id}: started again: {counts['chunks']} chunk(s), {counts['chapters']} chapter(s) and "
            f"{counts['assemblies']} assembly sent; what is stored is reused",
            markup=False,
        )
    return retried
