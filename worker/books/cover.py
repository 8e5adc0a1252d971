"""A book's cover for the .m4b: its size is checked (HEAD) before it is fetched, so a huge object never reaches
memory."""

from __future__ import annotations

from worker.errors import BadInput
from worker.storage import Storage
from worker.support.limits import too_big

COVER_FIX = "shrink the image (a JPEG of 1400 to 3000 pixels a side is plenty)"


def book_cover(storage: Storage, *, bucket: str, key: str, cover_type: str, limit: int) -> tuple[bytes, str] | None:
    """(image bytes, media type), None when the object is gone; BadInput when it is over `limit`
    (NARRATE_COVER_MAX_BYTES)."""
    size = storage.size(bucket, key)
    if size is not None and size > limit:
        raise cover_too_big(f"s3://{bucket}/{key}", size=size, limit=limit)
    data = storage.get(bucket, key) if size is not None else None
    if data and len(data) > limit:  # replaced since the HEAD
        raise cover_too_big(f"s3://{bucket}/{key}", size=len(data), limit=limit)
    return (data, cover_type) if data else None


def cover_too_big(name: str, *, size: int, limit: int, where: str = "") -> BadInput:
    return too_big(
        name,
        what=f"the book's cover image{where}",
        size=size,
        limit=limit,
        setting="NARRATE_COVER_MAX_BYTES",
        fix=COVER_FIX,
    )
