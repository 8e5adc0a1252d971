"""Every Redis key and S3 object key, in one place."""

from __future__ import annotations

import hashlib
import json

REDIS_PREFIX = "narrate"
JOB_STATES = ("queued", "running", "succeeded", "failed")


def job_record(job_id: str) -> str:
    """Hash with the job's state, error, attempts and outputs."""
    return f"{REDIS_PREFIX}:job:{job_id}"


def jobs_in_state(state: str) -> str:
    """Sorted set of job ids in one state, scored by when they entered it."""
    return f"{REDIS_PREFIX}:jobs:{state}"


def render_lease(what: str) -> str:
    """String held by the one delivery rendering a job or a book chunk (a token, short expiry, extended while it
    runs)."""
    return f"{REDIS_PREFIX}:lease:{what}"


def fish_slots() -> str:
    """Sorted set of Fish request slots in use, scored by lease expiry: the cluster-wide cap."""
    return f"{REDIS_PREFIX}:fish:slots"


def fish_breaker() -> str:
    """Hash present while Fish calls are paused after a 402 (insufficient credit)."""
    return f"{REDIS_PREFIX}:fish:breaker"


def held_render(render_key: str) -> str:
    """Hash: audio Fish returned that S3 could not take yet (expires)."""
    return f"{REDIS_PREFIX}:held:{render_key}"


def reference_entry(reference_hash: str) -> str:
    """Hash: a voice reference's use count, promotion state and Fish model id."""
    return f"{REDIS_PREFIX}:ref:{reference_hash}"


def reference_index() -> str:
    """Set of every reference hash the registry knows."""
    return f"{REDIS_PREFIX}:refs"


def reference_create_lock(reference_hash: str) -> str:
    """Held while a Fish voice is being created for the reference: one creation at a time."""
    return f"{REDIS_PREFIX}:ref:{reference_hash}:creating"


def named_voice(name: str) -> str:
    """String (JSON): the clips, transcripts and bucket of a named voice."""
    return f"{REDIS_PREFIX}:voice:{name}"


def named_voice_index() -> str:
    return f"{REDIS_PREFIX}:voices"


def fish_voice_tag(reference_hash: str) -> str:
    """Tag on the Fish model that ties it to its reference, so the registry can be rebuilt."""
    return f"narrate:{reference_hash}"


def lexicon(sha256: str, extension: str) -> str:
    """A lexicon file, content-addressed beside the reference clips."""
    return f"lexicons/{sha256}.{extension}"


def reference_clip(sha256: str, extension: str) -> str:
    """A reference clip, content-addressed so every job using it shares one object."""
    return f"refs/{sha256}.{extension}"


def chunk_hash(text: str, *, voice: str, model: str, synthesis: dict[str, object] | None = None) -> str:
    """Content address of a chunk's audio: its text, the voice (reference hash or Fish id), model and parameters."""
    identity: dict[str, object] = {"v": 1, "text": text, "voice": voice, "model": model, "format": "wav"}
    if synthesis:
        identity["synthesis"] = synthesis  # only when set: chunks rendered without settings keep their address
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def chunk_audio(chunk_hash: str) -> str:
    """Rendered audio of one chunk of text, content-addressed (text, voice, model, parameters)."""
    return f"chunks/{chunk_hash}.wav"


def chunk_takes(chunk_key: str) -> str:
    """JSON record of a chunk's takes (proof-listening): each take's audio, what was heard, the verdict, the choice."""
    return f"{chunk_key.removesuffix('.wav')}/takes.json"


def chunk_take_audio(chunk_key: str, take: int) -> str:
    """One take of a chunk; the chosen one is also at the chunk's own address, where assembly reads it."""
    return f"{chunk_key.removesuffix('.wav')}/take-{take}.wav"


def held_heard(take_url: str) -> str:
    """String: what Fish's speech-to-text heard in a take whose record S3 could not take yet (expires)."""
    return f"{REDIS_PREFIX}:held-heard:{take_url}"


def _under(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def output_audio(prefix: str, job_id: str, fmt: str) -> str:
    return _under(prefix, f"{job_id}.{fmt}")


def output_manifest(prefix: str, job_id: str) -> str:
    return _under(prefix, f"{job_id}.json")


def book_folder(prefix: str, book_id: str) -> str:
    """Everything of one audiobook lives under <prefix>/<book_id>/."""
    return _under(prefix, book_id)


def book_plan(prefix: str, book_id: str) -> str:
    return f"{book_folder(prefix, book_id)}/plan.json"


def book_cover(prefix: str, book_id: str, extension: str) -> str:
    return f"{book_folder(prefix, book_id)}/cover.{extension}"


def book_chapter_audio(prefix: str, book_id: str, chapter: int, fmt: str) -> str:
    return f"{book_folder(prefix, book_id)}/chapters/{chapter + 1:03d}.{fmt}"


def book_part(prefix: str, book_id: str, chapter: int, extension: str) -> str:
    """A chapter's share of the .m4b (aac: its frames; npz: where they go), kept until the book is made."""
    return f"{book_folder(prefix, book_id)}/parts/{chapter + 1:03d}.{extension}"


def book_retail_sample(prefix: str, book_id: str, fmt: str) -> str:
    return f"{book_folder(prefix, book_id)}/sample.{fmt}"


def book_audio(prefix: str, book_id: str) -> str:
    return f"{book_folder(prefix, book_id)}/book.m4b"


def book_sidecar(prefix: str, book_id: str, extension: str) -> str:
    """chapters.json (chapter and sentence times), book.srt and book.vtt (sentence subtitles)."""
    return f"{book_folder(prefix, book_id)}/{'chapters' if extension == 'json' else 'book'}.{extension}"


def book_read_along_source(prefix: str, book_id: str) -> str:
    """The book's text with every narrated sentence marked (an EPUB 3), stored at submission for assembly."""
    return f"{book_folder(prefix, book_id)}/readalong-source.epub"


def book_read_along(prefix: str, book_id: str) -> str:
    """The read-along EPUB: the book's text, its chapter audio and a Media Overlay per narrated document."""
    return f"{book_folder(prefix, book_id)}/readalong.epub"


def book_manifest(prefix: str, book_id: str) -> str:
    """Written last: the book is finished when it exists."""
    return f"{book_folder(prefix, book_id)}/manifest.json"


def book_record(book_id: str) -> str:
    """Hash: a book's state, counters (chunks done, rendered, reused, bytes billed) and outputs."""
    return f"{REDIS_PREFIX}:book:{book_id}"


def book_chapter(book_id: str, chapter: int) -> str:
    """Hash: one chapter's chunks remaining, state, gain and loudness report."""
    return f"{REDIS_PREFIX}:book:{book_id}:ch:{chapter}"


def book_chapter_chunks_done(book_id: str, chapter: int) -> str:
    """Set of chunk indexes completed in a chapter: SADD makes completion idempotent."""
    return f"{REDIS_PREFIX}:book:{book_id}:ch:{chapter}:done"


def book_chapter_heard(book_id: str, chapter: int) -> str:
    """Hash: chunk index -> JSON summary of its takes as heard (proof-listening), for the chapter's report."""
    return f"{REDIS_PREFIX}:book:{book_id}:chapter:{chapter}:heard"


def book_chapters_done(book_id: str) -> str:
    return f"{REDIS_PREFIX}:book:{book_id}:chapters-done"


def active_books() -> str:
    """Set of books still rendering: what the reconciler looks at."""
    return f"{REDIS_PREFIX}:books:active"


def s3_url(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"


def pipeline_state(name: str, part: str) -> str:
    """A scheduled pipeline's state: `seen` (content hash -> outcome), `inflight` (source key -> what it became),
    `cursor` (where the last scan stopped), `spend:<date>` (USD estimated today)."""
    return f"{REDIS_PREFIX}:pipeline:{name}:{part}"


def unit_attempts(unit: str) -> str:
    """Hash: failures and worker deaths of one unit of work outside a book (a promotion, a webhook, a pipeline run),
    fields `<unit>:failures` and `<unit>:deaths`; expires."""
    return f"{REDIS_PREFIX}:attempts:{unit}"


def book_attempts(book_id: str) -> str:
    """Hash: failures and worker deaths of each of a book's units (`chunk:<chapter>.<index>`, `chapter:<n>`, `book`,
    `notify`), fields `<unit>:failures` and `<unit>:deaths`; goes with the book's other keys."""
    return f"{REDIS_PREFIX}:book:{book_id}:attempts"


def parked_tasks() -> str:
    """List (JSON): task messages that met the open credit breaker, sent again when it closes."""
    return f"{REDIS_PREFIX}:parked"


def notify_batch(batch_id: str) -> str:
    """Hash: a batch of jobs' webhook (`url`), jobs `total` and `remaining`, `succeeded`, `failed`, `sealed` once all
    are sent, `claimed` by the one finish that sends its notice, `notify_status`; expires with job records."""
    return f"{REDIS_PREFIX}:batch:{batch_id}"


def notify_batch_done(batch_id: str) -> str:
    """Set of a batch's job ids that have ended: SADD counts each job once, however often it is finished."""
    return f"{REDIS_PREFIX}:batch:{batch_id}:done"
