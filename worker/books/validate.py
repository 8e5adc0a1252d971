"""Checks on a book step's message and plan: nothing from the broker reads or writes outside its own book.

Any Celery client may send `narrate.book.chunk`, `.chapter` or `.assemble`, so
the worker checks what a render job's `Output` checks (a bucket name, a prefix
that cannot escape) and more: the book is one the producer recorded, at that
bucket and prefix; a chunk's key is the content address of what it renders, so
no message can put other audio where a chunk is expected; the plan read from
S3 is that book's. A refused message is dropped, and its book left as it is:
a crafted message must not be able to fail someone else's book either.
"""

from __future__ import annotations

import re

from worker import keys
from worker.books.plan import BookPlan, ChunkMessage, voice_identity
from worker.books.state import BookState
from worker.contract import check_bucket, check_prefix
from worker.errors import BadInput, InvalidJob, PermanentError
from worker.jobs.validate import check_text_characters

_BOOK_ID = re.compile(r"[0-9a-f]{32}")
_CHUNK_KEY = re.compile(r"chunks/[0-9a-f]{64}\.wav")


class InvalidBookMessage(InvalidJob):
    """A book step's message names something outside its book: refuse it, leave the book alone."""


class InvalidPlan(PermanentError):
    """The plan stored at a book's place is not that book's, or points outside it: the book cannot go on."""


def check_book_step(book_id: object, *, bucket: object, prefix: object, chapter: object = None) -> None:
    """The arguments every book step carries: a book id, a valid bucket, a prefix that cannot escape (and a chapter)."""
    if not isinstance(book_id, str) or not _BOOK_ID.fullmatch(book_id):
        raise InvalidBookMessage(f"book id {book_id!r} is not 32 lowercase hex characters")
    if not isinstance(bucket, str) or not isinstance(prefix, str):
        kinds = f"{type(bucket).__name__} and {type(prefix).__name__}"
        raise InvalidBookMessage(f"book {book_id}: the bucket and prefix must be strings, not {kinds}")
    try:
        check_bucket(bucket)
        if check_prefix(prefix) != prefix:
            raise ValueError("the output prefix must have no leading or trailing '/'")
    except ValueError as exc:
        raise InvalidBookMessage(f"book {book_id}: {exc}") from None
    if chapter is not None and (isinstance(chapter, bool) or not isinstance(chapter, int) or chapter < 0):
        raise InvalidBookMessage(f"book {book_id}: chapter {chapter!r} is not a chapter index (an integer from 0)")


def check_chunk_message(chunk: ChunkMessage, *, model: str, max_text_bytes: int) -> None:
    """A chunk message's own consistency: its key is the content address of its text, voice and settings under `model`.

    `model` is the one this worker renders with (NARRATE_FISH_MODEL): audio made by it can only go where that
    model's audio of that text belongs, so no message can overwrite a chunk another book reuses.
    """
    check_book_step(chunk.book_id, bucket=chunk.bucket, prefix=chunk.prefix, chapter=chunk.chapter)
    where = f"book {chunk.book_id}: chapter {chunk.chapter + 1}, chunk {chunk.index + 1}"
    if chunk.index < 0:
        raise InvalidBookMessage(f"{where}: index {chunk.index} is not a chunk index (an integer from 0)")
    if not _CHUNK_KEY.fullmatch(chunk.key):
        raise InvalidBookMessage(f"{where}: key {chunk.key!r} is not chunks/<64 hex>.wav")
    size = len(chunk.text.encode("utf-8"))
    if size > max_text_bytes:
        raise InvalidBookMessage(
            f"{where}: the text is {size} bytes, over the limit of {max_text_bytes} (NARRATE_MAX_TEXT_BYTES)"
        )
    try:
        check_text_characters(chunk.text, where=f"{where}: the text")
    except BadInput as exc:
        raise InvalidBookMessage(str(exc)) from None
    address = keys.chunk_audio(
        keys.chunk_hash(chunk.text, voice=voice_identity(chunk.voice), model=model, synthesis=chunk.synthesis.address())
    )
    if chunk.key != address:
        raise InvalidBookMessage(
            f"{where}: key {chunk.key} is not the content address of its text, voice and settings with model {model}"
            f" ({address}): the message was altered, or the producer's NARRATE_FISH_MODEL is not this worker's"
        )


def check_book_owner(state: BookState, book_id: str, *, bucket: str, prefix: str) -> None:
    """The book was submitted (its record exists) with exactly this bucket and prefix: a message cannot move it."""
    recorded = state.client.hmget(keys.book_record(book_id), "bucket", "prefix")
    if recorded[0] is None:
        raise InvalidBookMessage(
            f"book {book_id} has no record: it was never submitted here, or finished and was forgotten"
        )
    found = (recorded[0].decode(), (recorded[1] or b"").decode())
    if found != (bucket, prefix):
        raise InvalidBookMessage(
            f"book {book_id} was submitted to {keys.s3_url(found[0], found[1])},"
            f" not {keys.s3_url(bucket, prefix)}: refused"
        )


def check_chunk_in_plan(chunk: ChunkMessage, plan: BookPlan) -> None:
    """The chunk is one of its book's: same text, key, voice and settings as the plan gives it at that place."""
    where = f"book {chunk.book_id}: chapter {chunk.chapter + 1}, chunk {chunk.index + 1}"
    if plan.book_id != chunk.book_id:
        raise InvalidBookMessage(f"{where}: the plan read is book {plan.book_id}'s")
    chapters = {c.index: c for c in plan.chapters}
    chunks = {c.index: c for c in chapters[chunk.chapter].chunks} if chunk.chapter in chapters else {}
    planned = chunks.get(chunk.index)
    if planned is None:
        raise InvalidBookMessage(f"{where}: the book's plan has no such chunk")
    if (planned.text, planned.key, plan.voice, plan.synthesis) != (chunk.text, chunk.key, chunk.voice, chunk.synthesis):
        raise InvalidBookMessage(
            f"{where}: the message's text, key, voice or settings are not the plan's for that chunk"
        )


def check_plan(plan: BookPlan, *, book_id: str, bucket: str, prefix: str) -> None:
    """A plan read from <prefix>/<book_id>/plan.json is that book's, writes there, and reads only its book's objects."""
    where = f"the plan at {keys.s3_url(bucket, keys.book_plan(prefix, book_id))}"
    if plan.book_id != book_id:
        raise InvalidPlan(f"{where} is book {plan.book_id}'s: submit the book again")
    if (plan.output.bucket, plan.output.prefix) != (bucket, prefix):
        raise InvalidPlan(
            f"{where} sends its outputs to {keys.s3_url(plan.output.bucket, plan.output.prefix)}, not beside it:"
            " submit the book again"
        )
    for chapter in plan.chapters:
        for planned in chapter.chunks:
            if not _CHUNK_KEY.fullmatch(planned.key):
                raise InvalidPlan(
                    f"{where}: chapter {chapter.index + 1}, chunk {planned.index + 1} has key {planned.key!r},"
                    " not chunks/<64 hex>.wav: submit the book again"
                )
    folder = keys.book_folder(prefix, book_id) + "/"
    if plan.cover_key is not None and not (plan.cover_key.startswith(folder) and _plain_key(plan.cover_key)):
        raise InvalidPlan(
            f"{where}: its cover {plan.cover_key!r} is not in the book's folder {folder}: submit the book again"
        )


def _plain_key(key: str) -> bool:
    try:
        return check_prefix(key) == key
    except ValueError:
        return False
