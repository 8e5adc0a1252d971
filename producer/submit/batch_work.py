"""What one `narrate submit` of books and batch files will send, read and checked: nothing is sent yet.

Books are read and voiced one by one; plain narration jobs are grouped by
voice, output, format, synthesis settings and lexicons, so that each group goes
out in bulk (batches.py plans the work and sends the groups).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from producer.readers.batch_entry import BatchEntry, VoiceKey
from producer.readers.books import BookText
from producer.readers.quality import NOT_ASKED, QcChoice
from producer.readers.selection import ChapterChoice
from producer.readers.text import TextSource
from producer.submit.clips import NamedVoice, PreparedVoice
from producer.submit.jobs import Submitter
from producer.submit.lexicons import Lexicons
from producer.submit.notify import NotifyBatch
from producer.submit.read_along import ReadAlongSource
from worker.contract import RenderJob, Synthesis


@dataclass
class JobGroup:
    """Jobs sharing a voice, an output and a format: sent by one `Submitter.submit`, records and messages in bulk."""

    voice: PreparedVoice | NamedVoice | str
    out: str
    fmt: str
    synthesis: Synthesis = Synthesis()
    lexicons: Lexicons = Lexicons()
    qc: QcChoice = NOT_ASKED
    sources: list[TextSource] = field(default_factory=list)
    # each job's place in the batch files, to print ids in that order
    positions: list[int] = field(default_factory=list)

    def send(
        self,
        submitter: Submitter,
        sources: list[TextSource],
        *,
        notify: str | None,
        notify_batch: NotifyBatch | None = None,
    ) -> list[RenderJob]:
        """`sources` (the group's, or those of them not sent yet) sent in bulk in the group's voice and settings."""
        return submitter.submit(
            sources=sources,
            voice=self.voice,
            out=self.out,
            fmt=self.fmt,
            synthesis=self.synthesis,
            lexicons=self.lexicons,
            notify=notify,
            notify_batch=notify_batch,
            qc=self.qc,
        )


@dataclass(frozen=True)
class BookWork:
    """One book to submit, read and voiced."""

    book: BookText
    voice: PreparedVoice | NamedVoice | str
    out: str
    fmt: str | None
    title: str | None = None
    preset: str | None = None
    chapters: ChapterChoice = ChapterChoice()
    synthesis: Synthesis = Synthesis()
    lexicons: Lexicons = Lexicons()
    qc: QcChoice = NOT_ASKED
    read_along: ReadAlongSource | None = None

    def submit_options(self) -> dict[str, Any]:
        """The keyword arguments of `BookSubmitter.plan` and `.submit` for this book, besides the book itself."""
        return {
            "voice": self.voice,
            "out": self.out,
            "fmt": self.fmt,
            "title": self.title,
            "preset": self.preset,
            "chapters": self.chapters,
            "synthesis": self.synthesis,
            "lexicons": self.lexicons,
            "qc": self.qc,
            "read_along": self.read_along,
        }


@dataclass
class Work:
    """Everything one `narrate submit` of books and batch files will send, read and checked; nothing sent yet."""

    books: list[BookWork] = field(default_factory=list)
    job_groups: dict[tuple[VoiceKey, str, str, Synthesis, Lexicons, QcChoice], JobGroup] = field(default_factory=dict)
    job_count: int = 0
    outputs: dict[str, str] = field(default_factory=dict)  # output URL -> where it is first named, for error messages

    def add_job(
        self,
        entry: BatchEntry,
        voice: PreparedVoice | NamedVoice | str,
        synthesis: Synthesis,
        lexicons: Lexicons,
        qc: QcChoice = NOT_ASKED,
    ) -> None:
        key = (entry.voice_key, entry.out, entry.format, synthesis, lexicons, qc)
        group = self.job_groups.get(key)
        if group is None:
            group = self.job_groups[key] = JobGroup(
                voice=voice, out=entry.out, fmt=entry.format, synthesis=synthesis, lexicons=lexicons, qc=qc
            )
        group.sources.append(TextSource(name=entry.title or "batch file job", text=entry.text or ""))
        group.positions.append(self.job_count)
        self.job_count += 1
