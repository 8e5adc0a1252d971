"""The read-along EPUB of a book asked for with --read-along, made once its chapters are.

The producer stored the book's text with every narrated sentence marked (`narrate-{paragraph}-{sentence}`, the
paragraph counted among its document's); assembly timed every sentence in its chapter file (sentence_times.py).
Here each narrated document gets a Media Overlay whose clips point at those sentences in the chapter files, which
go inside the package (worker.books.readalong). Credits have no text in the book: they are heard, not read along.
"""

from __future__ import annotations

from pathlib import Path

from worker import keys
from worker.audio.scratch import scratch_folder
from worker.books.context import BookContext
from worker.books.plan import BookPlan
from worker.books.readalong import Clip, Overlay, package_readalong
from worker.errors import PermanentError, StorageUnavailable

EPUB_TYPE = "application/epub+zip"


def sentence_id(paragraph: int, sentence: int) -> str:
    """The id the marked book gives sentence `sentence` of paragraph `paragraph` of a document."""
    return f"narrate-{paragraph}-{sentence}"


def write_read_along(plan: BookPlan, *, sentences: list[list[dict]], ctx: BookContext) -> str | None:
    """readalong.epub beside the .m4b, from each chapter's timed sentences; its key, or None when not asked for."""
    if not plan.read_along:
        return None
    storage, bucket, prefix = ctx.render.storage, plan.output.bucket, plan.output.prefix
    overlays = _overlays(plan, sentences)
    with scratch_folder(
        kind="book",
        doing=f"making the read-along EPUB of book {plan.book_id}",
        fix="free space on the assembly workers' disk; the book is retried",
    ) as folder:
        marked, out = Path(folder) / "marked.epub", Path(folder) / "readalong.epub"
        if not storage.get_file(bucket, plan.read_along, str(marked)):
            raise PermanentError(
                f"s3://{bucket}/{plan.read_along}, the book's marked text, is missing: submit the book again"
            )
        audio = {}
        for overlay in overlays:
            chapter = int(overlay.audio.split(".")[0]) - 1
            key, path = keys.book_chapter_audio(prefix, plan.book_id, chapter, "mp3"), Path(folder) / overlay.audio
            if not storage.get_file(bucket, key, str(path)):
                raise StorageUnavailable(f"chapter file s3://{bucket}/{key} is missing; the book is assembled again")
            audio[overlay.audio] = path
        package_readalong(marked, overlays, audio=audio, out=out)
        key = keys.book_read_along(prefix, plan.book_id)
        storage.put_file(bucket, key, str(out), content_type=EPUB_TYPE)
    return key


def _overlays(plan: BookPlan, sentences: list[list[dict]]) -> list[Overlay]:
    """One overlay per narrated document, its clips in the chapter file its sentences are heard in."""
    overlays: list[Overlay] = []
    for chapter, said in zip(plan.chapters, sentences):
        if not chapter.document or not said:
            continue
        clips: list[Clip] = []
        for s in said:
            # never before the clip before (interpolated ends can touch), never empty
            begin = max(s["file_start"], clips[-1].end if clips else 0.0)
            clips.append(Clip(sentence_id(s["paragraph"], s["sentence"]), begin, max(s["file_end"], begin + 2e-3)))
        overlays.append(Overlay(document=chapter.document, audio=f"{chapter.index + 1:03d}.mp3", clips=clips))
    return overlays
