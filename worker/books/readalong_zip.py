"""An EPUB's zip written whole or not at all: `mimetype` first and stored, audio stored and streamed from disk.

The archive is written to a temporary file beside its destination and renamed over it at the end, so a failure
leaves nothing half-written where the book is expected.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import zipfile
from collections.abc import Iterator, Mapping
from pathlib import Path

MIMETYPE = "mimetype"
_BLOCK = 1 << 20


@contextlib.contextmanager
def written_atomically(out: Path) -> Iterator[zipfile.ZipFile]:
    """A zip open for writing whose content appears at `out` only when the block ends without an error."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".part")
    os.close(handle)
    part = Path(name)
    try:
        with zipfile.ZipFile(part, "w") as archive:
            yield archive
        part.chmod(0o644)
        part.replace(out)
    finally:
        part.unlink(missing_ok=True)


def copy_epub(
    source: zipfile.ZipFile, archive: zipfile.ZipFile, *, replaced: Mapping[str, bytes], added: Mapping[str, bytes]
) -> None:
    """`source`'s entries into `archive` in their order (mimetype first, stored), as they were or as `replaced`
    gives them, then the `added` ones, deflated."""
    if MIMETYPE not in source.namelist():
        raise ValueError("not an EPUB: it has no mimetype entry")
    archive.writestr(_info(MIMETYPE), source.read(MIMETYPE), compress_type=zipfile.ZIP_STORED)
    for info in source.infolist():
        if info.filename == MIMETYPE:
            continue
        if info.filename in replaced:
            archive.writestr(_info(info.filename), replaced[info.filename], compress_type=zipfile.ZIP_DEFLATED)
            continue
        copied = zipfile.ZipInfo(info.filename, date_time=info.date_time)
        copied.compress_type, copied.external_attr = info.compress_type, info.external_attr
        copied.file_size = info.file_size
        if info.is_dir():
            archive.writestr(copied, b"")
            continue
        with source.open(info) as reader, archive.open(copied, "w") as writer:
            shutil.copyfileobj(reader, writer, _BLOCK)
    for name, data in added.items():
        archive.writestr(_info(name), data, compress_type=zipfile.ZIP_DEFLATED)


def store_file(archive: zipfile.ZipFile, name: str, path: Path) -> None:
    """The file at `path` into the archive as `name`, stored (audio is compressed already), read a block at a time."""
    info = _info(name)
    info.compress_type = zipfile.ZIP_STORED
    info.file_size = path.stat().st_size  # decides whether the entry needs ZIP64 before it is written
    with path.open("rb") as reader, archive.open(info, "w") as writer:
        shutil.copyfileobj(reader, writer, _BLOCK)


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
    info.external_attr = 0o644 << 16
    return info
