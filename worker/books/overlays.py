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
from worker.text.sentences import sentence_id

EPUB_TYPE = "application/epub+zip"


def write_read_along(plan: BookPlan, *, sentences: list[list[dict]], ctx: BookContext) -> str | None:
    """readalong.epub beside the .m4b, from each chapter's timed sentences; its key, or None when not asked for."""
    if not plan.read_along:
        return None
    storage, bucket, prefix = ctx.render.storage, plan.output.bucket, plan.output.prefix
    overlays = _overlays(plan, sentences)
    if not overlays:
        raise PermanentError(f"book {plan.book_id}: no narrated sentence was timed, so no read-along EPUB can be made")
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
        for name in sorted({clip.audio for overlay in overlays for clip in overlay.clips}):
            chapter = int(name.split(".")[0]) - 1
            key, path = keys.book_chapter_audio(prefix, plan.book_id, chapter, "mp3"), Path(folder) / name
            if not storage.get_file(bucket, key, str(path)):
                raise StorageUnavailable(f"chapter file s3://{bucket}/{key} is missing; the book is assembled again")
            audio[name] = path
        try:
            package_readalong(marked, overlays, audio=audio, out=out)
        except ValueError as exc:  # the timings do not fit the marked book: nothing a retry changes
            raise PermanentError(f"the read-along EPUB of book {plan.book_id} could not be made: {exc}") from exc
        key = keys.book_read_along(prefix, plan.book_id)
        storage.put_file(bucket, key, str(out), content_type=EPUB_TYPE)
    return key


def _overlays(plan: BookPlan, sentences: list[list[dict]]) -> list[Overlay]:
    """One overlay per narrated document, each clip in the chapter file its sentence is heard in (a document cut
    into parts, as a preset caps a chapter's length, is heard in several)."""
    overlays: dict[str, Overlay] = {}
    for chapter, said in zip(plan.chapters, sentences, strict=True):
        if not chapter.document or not said:
            continue
        audio = f"{chapter.index + 1:03d}.mp3"
        overlay = overlays.setdefault(chapter.document, Overlay(document=chapter.document, audio=audio, clips=[]))
        previous = 0.0
        for s in said:
            # never before the clip before in its file (interpolated ends can touch), never empty
            begin = max(s["file_start"], previous)
            end = max(s["file_end"], begin + 2e-3)
            overlay.clips.append(Clip(sentence_id(s["paragraph"], s["sentence"]), begin, end, audio=audio))
            previous = end
    return list(overlays.values())
