"""The one way a size limit refuses input: what was too big, by how much, and the setting that raises the limit."""

from __future__ import annotations

from worker.errors import BadInput

_MB = 1024 * 1024


def too_big(name: str, *, what: str, size: int, limit: int, setting: str, fix: str = "") -> BadInput:
    """e.g. "book.epub: its cover image is 14.2 MB, over the 10.0 MB limit; shrink it, or raise
    NARRATE_COVER_MAX_BYTES"."""
    return BadInput(
        f"{name}: {what} is {megabytes(size)}, over the {megabytes(limit)} limit; "
        f"{fix + ', or ' if fix else ''}raise {setting} if it is expected"
    )


def megabytes(size: int) -> str:
    return f"{size / _MB:,.1f} MB" if size >= _MB else f"{size:,} bytes"
