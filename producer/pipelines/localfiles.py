"""Names for a source's temporary local copy: an S3 key may be far longer than a file name may be (255 bytes)."""

from __future__ import annotations

from pathlib import PurePosixPath

MAX_NAME_BYTES = 200  # under the usual 255-byte limit, with room for a suffix


def local_name(key: str) -> str:
    """The key's last part, its stem shortened (on a character boundary) when the whole would not fit a file name."""
    name = PurePosixPath(key).name
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    path = PurePosixPath(name)
    suffix = path.suffix if len(path.suffix.encode()) <= 16 else ""
    room = MAX_NAME_BYTES - len(suffix.encode())
    return path.stem.encode()[:room].decode(errors="ignore") + suffix
