"""One S3 object made of local files and byte ranges of other objects: which multipart parts to upload, which to copy.

A book's .m4b is its index, then every chapter's AAC frames as the chapter
tasks left them in S3, then the chapter titles. Copied part by part on the S3
side (UploadPartCopy), the frames never pass through the worker. S3's rule
shapes the plan: every part but the last holds at least 5 MiB and at most
5 GiB. A range too short to stand alone, or a file, goes into an uploaded part,
topped up from the start of the next range when that leaves enough of it to
copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

MIN_PART = 5 * 1024 * 1024
MAX_PART = 5 * 1024 * 1024 * 1024
MAX_PARTS = 10_000


@dataclass(frozen=True)
class Local:
    """A whole file on this machine."""

    path: Path

    @property
    def size(self) -> int:
        return self.path.stat().st_size


@dataclass(frozen=True)
class Remote:
    """Bytes [start, end) of an object in the same bucket."""

    key: str
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


Piece = Local | Remote


@dataclass(frozen=True)
class Upload:
    """A part sent from here: its pieces in order (ranges of other objects are downloaded first)."""

    pieces: tuple[Piece, ...]

    @property
    def size(self) -> int:
        return sum(piece.size for piece in self.pieces)


@dataclass(frozen=True)
class Copy:
    """A part S3 copies from another object, without the bytes coming here."""

    source: Remote

    @property
    def size(self) -> int:
        return self.source.size


Part = Upload | Copy


def plan_parts(pieces: list[Piece], *, minimum: int = MIN_PART, maximum: int = MAX_PART) -> list[Part]:
    """The parts, in order, whose bytes joined are the pieces' bytes joined; all but the last within
    [minimum, maximum]."""
    parts: list[Part] = []
    pending: list[Piece] = []  # what the next uploaded part holds so far
    held = 0
    for piece in pieces:
        if piece.size <= 0:
            continue
        if held >= minimum:  # big enough: sent as it is, so no uploaded part grows past a few minimums
            parts.append(Upload(tuple(pending)))
            pending, held = [], 0
        if isinstance(piece, Local):
            pending.append(piece)
            held += piece.size
            continue
        start = piece.start
        if held:
            need = minimum - held
            if piece.end - start - need < minimum:  # what would be left is too short to copy: take it all
                pending.append(piece)
                held += piece.size
                continue
            parts.append(Upload((*pending, Remote(piece.key, start, start + need))))
            pending, held, start = [], 0, start + need
        if piece.end - start < minimum:
            pending.append(Remote(piece.key, start, piece.end))
            held += piece.end - start
            continue
        parts += _copies(Remote(piece.key, start, piece.end), minimum=minimum, maximum=maximum)
    if pending:
        parts.append(Upload(tuple(pending)))
    if len(parts) > MAX_PARTS:
        raise ValueError(f"{len(parts)} parts: S3 takes at most {MAX_PARTS} in one object")
    oversized = [part for part in parts if isinstance(part, Upload) and part.size > maximum]
    if oversized:
        raise ValueError(
            f"an uploaded part would hold {oversized[0].size} bytes: S3 takes at most {maximum} in one part"
        )
    return parts


def _copies(source: Remote, *, minimum: int, maximum: int) -> list[Part]:
    """A range of at least `minimum` bytes as copies of at most `maximum`, none but the last under `minimum`."""
    copies: list[Part] = []
    start = source.start
    while source.end - start > maximum:
        # Stop a part short when the rest would be too short to copy on its own.
        step = maximum if source.end - start - maximum >= minimum else source.end - start - minimum
        copies.append(Copy(Remote(source.key, start, start + step)))
        start += step
    copies.append(Copy(Remote(source.key, start, source.end)))
    return copies
