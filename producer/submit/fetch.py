"""Objects a submission names, fetched from S3 only when their size is within NARRATE_FETCH_MAX_BYTES.

A pipeline or a batch file may name any object its grant reaches; the size is
asked first (HEAD), so a 40 GB file dropped into an inbox is refused by its
length, never downloaded into the memory of the service that reads it.
"""

from __future__ import annotations

from worker.storage import Storage
from worker.support.limits import too_big

SETTING = "NARRATE_FETCH_MAX_BYTES"


def fetch_within(storage: Storage, bucket: str, key: str, *, limit: int) -> bytes | None:
    """The object's bytes, None when there is no such object; BadInput when it is larger than `limit`."""
    size = storage.size(bucket, key)
    if size is None:
        return None
    if size > limit:
        raise too_big(f"s3://{bucket}/{key}", what="the object", size=size, limit=limit, setting=SETTING)
    data = storage.get(bucket, key)
    if data is not None and len(data) > limit:  # replaced by a larger one between the two requests
        raise too_big(f"s3://{bucket}/{key}", what="the object", size=len(data), limit=limit, setting=SETTING)
    return data
