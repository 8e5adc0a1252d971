"""MP4 boxes written from their parts, and the headers every track has (movie, track, media, handler).

A box is its kind and its parts: bytes, numpy arrays (an index table, written as it is, never copied) or
other boxes. Its size is worked out from the parts, so a whole index can be sized before a byte is written;
one past 4 GB takes the 64-bit size field.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

MOVIE_TIMESCALE = 1000
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)

Part = bytes | np.ndarray


@dataclass
class Box:
    kind: bytes
    parts: list[Part | Box]

    @property
    def size(self) -> int:
        inner = sum(part.size if isinstance(part, Box) else _length(part) for part in self.parts)
        return inner + (16 if inner + 8 > 0xFFFFFFFF else 8)

    def write(self, out: BinaryIO) -> None:
        size = self.size
        out.write(
            struct.pack(">I4sQ", 1, self.kind, size) if size > 0xFFFFFFFF else struct.pack(">I4s", size, self.kind)
        )
        for part in self.parts:
            if isinstance(part, Box):
                part.write(out)
            elif isinstance(part, np.ndarray):
                part.tofile(out)
            else:
                out.write(part)


def _length(part: Part) -> int:
    return part.nbytes if isinstance(part, np.ndarray) else len(part)


def box(kind: bytes, *parts: Part | Box) -> Box:
    return Box(kind, list(parts))


def full_box(kind: bytes, version: int, flags: int, *parts: Part | Box) -> Box:
    return Box(kind, [struct.pack(">I", (version << 24) | flags), *parts])


def movie_units(seconds: float) -> int:
    return round(seconds * MOVIE_TIMESCALE)


def mvhd(duration: float, *, next_track: int) -> Box:
    return full_box(
        b"mvhd",
        1,
        0,
        struct.pack(">QQIQ", 0, 0, MOVIE_TIMESCALE, movie_units(duration)),
        struct.pack(">IH10x", 0x10000, 0x100),
        _MATRIX,
        bytes(24),
        struct.pack(">I", next_track),
    )


def tkhd(track: int, duration: float, *, flags: int, volume: int) -> Box:
    return full_box(
        b"tkhd",
        1,
        flags,
        struct.pack(">QQI4xQ8xhhH2x", 0, 0, track, movie_units(duration), 0, 0, volume),
        _MATRIX,
        struct.pack(">II", 0, 0),
    )


def mdhd(timescale: int, samples: int) -> Box:
    return full_box(b"mdhd", 1, 0, struct.pack(">QQIQHH", 0, 0, timescale, samples, 0x55C4, 0))  # language "und"


def hdlr(kind: bytes, name: bytes) -> Box:
    return full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, kind), name + b"\x00")


def dinf() -> Box:
    return box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
