"""`narrate retry BOOK_ID`: a failed or stalled book starts again from what is stored.

Chunks already in S3 are reused (content-addressed), chapters already made are
kept; the book's attempt counts start again from zero, so a chunk that failed
for good gets NARRATE_MAX_ATTEMPTS new tries, and nothing paid for is paid again.
"""

from __future__ import annotations

from worker import keys
from worker.books.context import BookContext
from worker.books.reconcile import Enqueue, resend_book
from worker.errors import BadInput


def retry_book(book_id: str, *, ctx: BookContext, enqueue: Enqueue) -> dict[str, int]:
    """What was sent again (worker.books.reconcile's counts); BadInput for a book that cannot be retried."""
    state = ctx.state.state_of(book_id)
    if not state:
        raise BadInput(
            f"{book_id}: no such book (or its record has expired: submit it again, its stored chunks are reused)"
        )
    if state == "succeeded":
        raise BadInput(f"{book_id}: has finished; nothing to retry")
    if state == "failed" and not ctx.state.reopen(book_id):
        raise BadInput(f"{book_id}: could not be reopened (its record is expiring): submit it again")
    ctx.state.client.delete(keys.book_attempts(book_id))
    return resend_book(book_id, ctx=ctx, enqueue=enqueue)
