"""A book asked for with --read-along: its text with every narrated sentence marked, made before anything is sent.

An EPUB is the publisher's own, its sentences marked in place; a Markdown or text book becomes a generated EPUB 3
with a document per chapter. Either is stored beside the plan, and the book's assembly adds the audio and a Media
Overlay per document (worker.books.overlays). Readers play MP3 (or AAC) inside an EPUB: the chapter files are MP3.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from producer.readers.booktext import BookText
from worker import keys
from worker.books.plan import BookPlan
from worker.contract import QualityCheck
from worker.errors import BadInput

READ_ALONG_FORMATS = ("mp3",)


def check_read_along_format(fmt: str) -> None:
    if fmt not in READ_ALONG_FORMATS:
        raise BadInput(
            f"--read-along puts the chapter audio inside the EPUB, where readers play MP3: chapters in {fmt} cannot"
            " go there; use --format mp3 (or a preset that writes mp3, such as acx)"
        )


def heard_for_read_along(qc: QualityCheck) -> QualityCheck:
    """Sentence times come from hearing: a book read along is heard at least to report."""
    return qc if qc.mode != "off" else qc.model_copy(update={"mode": "report"})


def read_along_plan(plan: BookPlan) -> BookPlan:
    """The plan naming where its marked EPUB is stored, and heard at least to report."""
    marked = keys.book_read_along_source(plan.output.prefix, plan.book_id)
    return plan.model_copy(update={"read_along": marked, "qc": heard_for_read_along(plan.qc)})


@dataclass(frozen=True)
class ReadAlongSource:
    """The book's file as it was given: an EPUB is marked in place, any other book becomes a generated EPUB.

    Its bytes, not its path: a batch file's or a pipeline's book is read from a temporary copy gone by the time
    the book is sent.
    """

    name: str
    data: bytes

    @classmethod
    def of(cls, path: str | Path) -> ReadAlongSource:
        return cls(Path(path).name, Path(path).read_bytes())

    @property
    def is_epub(self) -> bool:
        return self.name.lower().endswith(".epub")


def marked_book(book: BookText, source: ReadAlongSource, *, whole: BookText | None = None) -> tuple[BookText, bytes]:
    """The book (its chapters to narrate) with each chapter's document named, and the marked EPUB 3 to store beside
    the plan. `whole`: the book with every chapter; a generated EPUB holds those not narrated too, unnarrated."""
    from producer.readalong.package import mark_epub  # imported when asked for: lxml work most runs skip

    with tempfile.TemporaryDirectory(prefix="narrate-read-along-") as folder:
        out = Path(folder) / "readalong-source.epub"
        if source.is_epub:
            given = Path(folder) / "source.epub"
            given.write_bytes(source.data)
            mark_epub(given, book, out=out)
        else:
            from producer.readalong.generated import generated_epub

            whole = whole or book
            documents = generated_epub(whole, out=out, language=book.language)
            named = {id(c): d for c, d in zip(whole.chapters, documents, strict=True)}
            book = replace(book, chapters=[replace(c, document=named[id(c)], first_paragraph=0) for c in book.chapters])
        return book, out.read_bytes()
