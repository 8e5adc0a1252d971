"""The assembly embeds a cover only within NARRATE_COVER_MAX_BYTES, and sizes it up (HEAD) before fetching it."""

from __future__ import annotations

import pytest

from worker.books.cover import book_cover
from worker.errors import BadInput
from worker.storage import Storage


def test_a_cover_over_the_limit_is_refused_and_one_within_it_fetched(bucket: str) -> None:
    storage = Storage()
    storage.put(bucket, "books/b1/cover.jpg", b"\xff\xd8" + bytes(4094), content_type="image/jpeg")
    fetched = book_cover(storage, bucket=bucket, key="books/b1/cover.jpg", cover_type="image/jpeg", limit=4096)
    assert fetched == (b"\xff\xd8" + bytes(4094), "image/jpeg")
    with pytest.raises(
        BadInput,
        match=rf"^s3://{bucket}/books/b1/cover\.jpg: the book's cover image is 4,096 bytes, over the 4,095 bytes"
        r" limit; shrink the image .*, or raise NARRATE_COVER_MAX_BYTES if it is expected$",
    ):
        book_cover(storage, bucket=bucket, key="books/b1/cover.jpg", cover_type="image/jpeg", limit=4095)
    assert book_cover(storage, bucket=bucket, key="books/b1/gone.jpg", cover_type="image/jpeg", limit=4096) is None
