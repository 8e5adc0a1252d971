"""A job's message as its record keeps it for `narrate retry` and the sweeper: zlib-compressed and bounded.

The record holds the message while the job is live or failed (so it can be sent
again) and drops it once the job succeeds. Records written before compression
hold plain JSON; both are read.
"""

from __future__ import annotations

import zlib

# Largest compressed message a record keeps: a text at NARRATE_MAX_TEXT_BYTES's default (500 kB) compresses
# to well under this; a larger one is not kept, and its job, if it fails, is submitted again instead.
MAX_KEPT_BYTES = 256 * 1024
# A 4 KiB window and a small hash table: a message of a few hundred bytes compresses 5x faster than with
# zlib's defaults (whose 256 kB of state is set up per call) and hardly larger; zlib.decompress reads any window.
_WINDOW_BITS, _MEM_LEVEL, _LEVEL = 12, 4, 1


def pack(message: str) -> bytes | None:
    """The message compressed for the record, or None if even compressed it is over MAX_KEPT_BYTES."""
    compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _WINDOW_BITS, _MEM_LEVEL)
    packed = compressor.compress(message.encode("utf-8")) + compressor.flush()
    return packed if len(packed) <= MAX_KEPT_BYTES else None


def unpack(kept: bytes) -> str:
    """The JSON message a record keeps, compressed or (records from before compression) as it was sent."""
    if kept[:1] == b"{":
        return kept.decode("utf-8")
    return zlib.decompress(kept).decode("utf-8")
