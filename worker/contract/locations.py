"""Where a message may point in S3: bucket names and key prefixes that cannot escape, hide or confuse."""

from __future__ import annotations

import re

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_prefix(prefix: str) -> str:
    """An S3 key prefix that cannot escape, hide or confuse: returns it without surrounding slashes."""
    if _CONTROL.search(prefix):
        raise ValueError("the output prefix contains control characters")
    if "%" in prefix:
        raise ValueError("the output prefix contains '%': percent-encoding is not allowed")
    if prefix.startswith("/"):
        raise ValueError("the output prefix must be relative (no leading '/')")
    parts = prefix.strip("/").split("/") if prefix.strip("/") else []
    if any(part in ("..", ".") for part in parts):
        raise ValueError("the output prefix contains a '..' or '.' segment")
    if any(part == "" for part in parts):
        raise ValueError("the output prefix contains an empty segment ('//')")
    return "/".join(parts)


def check_bucket(bucket: str) -> str:
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise ValueError(
            f"{bucket!r} is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, '.', '-')"
        )
    return bucket
