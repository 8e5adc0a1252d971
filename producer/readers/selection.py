"""Which chapters of a book are narrated: the body by default, `--chapters 1-3,7`, or everything."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from producer.readers.booktext import BookText, ChapterText
from worker.errors import BadInput

_RANGE = re.compile(r"^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$")


@dataclass(frozen=True)
class ChapterChoice:
    """`numbers`: 1-based, as `narrate estimate` lists a book's contents; None: every chapter that is not matter."""

    numbers: frozenset[int] | None = None
    include_front_matter: bool = False

    @classmethod
    def parse(cls, spec: str | None, *, include_front_matter: bool = False) -> ChapterChoice:
        """`1-3,7` → {1, 2, 3, 7}; BadInput saying what is wrong."""
        if spec is None:
            return cls(None, include_front_matter)
        numbers: set[int] = set()
        for part in spec.split(","):
            match = _RANGE.match(part)
            if not match or int(match[1]) < 1 or (match[2] and int(match[2]) < int(match[1])):
                raise BadInput(
                    f"--chapters {spec!r}: expected numbers and ranges such as 1-3,7 (1 is the first chapter)"
                )
            numbers.update(range(int(match[1]), int(match[2] or match[1]) + 1))
        return cls(frozenset(numbers), include_front_matter)

    def takes(self, number: int, chapter: ChapterText) -> bool:
        if self.numbers is not None:
            return number in self.numbers
        return self.include_front_matter or not chapter.matter


def choose(book: BookText, choice: ChapterChoice) -> BookText:
    """The book with only the chapters chosen; BadInput when a number is past the end or nothing is left."""
    if choice.numbers and max(choice.numbers) > len(book.chapters):
        raise BadInput(
            f"{book.source}: --chapters {max(choice.numbers)} is past its last chapter ({len(book.chapters)});"
            " `narrate estimate` lists them"
        )
    chosen = [c for number, c in enumerate(book.chapters, start=1) if choice.takes(number, c)]
    if not chosen:
        raise BadInput(
            f"{book.source}: every chapter is front or back matter; pass --include-front-matter or --chapters"
        )
    return replace(book, chapters=chosen)
