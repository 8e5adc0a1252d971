"""What a book's steps share in one worker process: a render's context, the books' state, the plans read.

A chunk (worker.books.chunk) renders through the render context; a chapter and
the book (worker.books.chapter, worker.books.book) read the plan and the stored
chunks through it (their PCM: worker.books.pcm).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from worker import keys
from worker.books.plan import BookPlan
from worker.books.state import BookState
from worker.books.validate import check_plan
from worker.errors import PermanentError, StorageUnavailable
from worker.voices.speaker import RenderContext


@dataclass
class BookContext:
    """A render's context for the chunks, the books' state in Redis, and the plans read lately."""

    render: RenderContext
    state: BookState
    plans: OrderedDict[str, BookPlan] = field(default_factory=OrderedDict)

    def plan(self, *, bucket: str, prefix: str, book_id: str) -> BookPlan:
        """The book's plan from S3, kept for a few books per process (plans are immutable).

        Checked to be that book's, writing beside itself, at every call: a kept plan is asked for again
        with the bucket and prefix of each new message.
        """
        if book_id in self.plans:
            plan = self.plans[book_id]
            check_plan(plan, book_id=book_id, bucket=bucket, prefix=prefix)
            return plan
        raw = self.render.storage.get(bucket, keys.book_plan(prefix, book_id))
        if raw is None:
            raise PermanentError(
                f"the plan of book {book_id} is missing at s3://{bucket}/{keys.book_plan(prefix, book_id)}"
            )
        plan = BookPlan.model_validate_json(raw)
        check_plan(plan, book_id=book_id, bucket=bucket, prefix=prefix)
        self.plans[book_id] = plan
        while len(self.plans) > 8:
            self.plans.popitem(last=False)
        return plan


def chunk_data(plan: BookPlan, key: str, *, ctx: BookContext) -> bytes:
    data = ctx.render.storage.get(plan.output.bucket, key)
    if data is None:
        # Lost between completion and assembly: the reconciler renders it again.
        raise StorageUnavailable(f"chunk s3://{plan.output.bucket}/{key} is missing; it will be rendered again")
    return data
