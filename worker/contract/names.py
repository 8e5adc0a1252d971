"""Every task and queue name on the broker, and the header stamped on each message: strings other programs rely on.

A producer in any language sends these names (`send_task`), so they are fixed
strings, never derived from module paths.
"""

from __future__ import annotations

RENDER_TASK = "narrate.render"
PROMOTE_TASK = "narrate.promote"  # args: [reference_hash]
CREDIT_CHECK_TASK = "narrate.credit_check"
# The audiobook steps (worker/books/tasks.py)
BOOK_CHUNK_TASK = "narrate.book.chunk"
BOOK_CHAPTER_TASK = "narrate.book.chapter"
BOOK_ASSEMBLE_TASK = "narrate.book.assemble"
BOOK_NOTIFY_TASK = "narrate.book.notify"
BOOK_RECONCILE_TASK = "narrate.book.reconcile"
JOB_SWEEP_TASK = "narrate.jobs.sweep"
JOB_NOTIFY_TASK = "narrate.job.notify"  # args: [job_id]
BATCH_NOTIFY_TASK = "narrate.batch.notify"  # args: [batch_id]

# The workers' queues (`celery -A worker worker --queues ...`).
QUEUE = "narrate"
# Promotions get their own queue: behind a backlog of renders they would start too late to help.
VOICES_QUEUE = "narrate.voices"
# Chapter and book assembly: short queue, so a finished book is not kept waiting behind other books' chunks.
ASSEMBLY_QUEUE = "narrate.assembly"
# Beat's own tasks: a queue of their own, so a backlog of renders does not hold them back.
BEAT_QUEUE = "narrate.beat"
ALL_QUEUES = (QUEUE, VOICES_QUEUE, ASSEMBLY_QUEUE, BEAT_QUEUE)

# The pipelines service (`celery -A producer.pipelines.tasks`): its own queue and tasks.
PIPELINES_QUEUE = "narrate.pipelines"
PIPELINES_TICK_TASK = "narrate.pipelines.tick"
PIPELINES_RUN_TASK = "narrate.pipelines.run"

# Stamped on every message as it is published: the queue-age metric reads it off the oldest waiting message.
SENT_AT_HEADER = "narrate_sent_at"
