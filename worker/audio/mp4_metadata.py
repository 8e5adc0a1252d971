"""What an .m4b says beside its audio: chapters, iTunes tags, the cover, and that it is an audiobook.

Chapters are written twice, as FFmpeg and iTunes do: QuickTime chapters (a text track the audio track
points to, read by Apple's players) whose titles are text samples stored after the audio, and Nero
chapters (`chpl`, read by most others). The tags and the cover go in an iTunes `ilst`, with `stik`
marking the file an audiobook.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from worker.audio.mp4_boxes import Box, box, dinf, full_box, hdlr, mdhd, movie_units, tkhd

_TEXT_TIMESCALE = 1000
_UTF8_MARK = struct.pack(">I4sI", 12, b"encd", 0x100)  # "this chapter title is UTF-8", as QuickTime reads it
# The QuickTime text sample description FFmpeg writes for chapter tracks (with its font table).
_TEXT_DESCRIPTION = bytes.fromhex(
    "000000000000000100000001000000000000000000000000000000000000000000000000010000000000000000000d66746162000100010000"
)
_TAGS = {
    "title": b"\xa9nam",
    "artist": b"\xa9ART",
    "album_artist": b"aART",
    "album": b"\xa9alb",
    "genre": b"\xa9gen",
    "comment": b"\xa9cmt",
    "date": b"\xa9day",
    "encoder": b"\xa9too",
}
_COVER_TYPES = {"image/jpeg": 13, "image/jpg": 13, "image/png": 14}


@dataclass(frozen=True)
class Chapter:
    title: str
    start_seconds: float


def chapter_spans(chapters: Sequence[Chapter], duration: float) -> list[int]:
    """Each chapter's length in the text track's milliseconds; they add up to the book's."""
    starts = [round(chapter.start_seconds * _TEXT_TIMESCALE) for chapter in chapters]
    ends = starts[1:] + [round(duration * _TEXT_TIMESCALE)]
    return [max(0, end - start) for start, end in zip(starts, ends)]


def text_sample(title: str) -> bytes:
    encoded = title.encode("utf-8")[:0xFFFF]
    return struct.pack(">H", len(encoded)) + encoded + _UTF8_MARK


def text_trak(titles: list[bytes], spans: list[int], offset: int, *, duration: float) -> Box:
    deltas = b"".join(struct.pack(">II", 1, span) for span in spans)
    table = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), box(b"text", _TEXT_DESCRIPTION)),
        full_box(b"stts", 0, 0, struct.pack(">I", len(spans)), deltas),
        full_box(b"stsc", 0, 0, struct.pack(">IIII", 1, 1, len(titles), 1)),
        full_box(
            b"stsz", 0, 0, struct.pack(">II", 0, len(titles)), b"".join(struct.pack(">I", len(t)) for t in titles)
        ),
        full_box(b"stco", 0, 0, struct.pack(">II", 1, offset)),
    )
    header = box(
        b"gmhd",
        full_box(b"gmin", 0, 0, bytes.fromhex("004080008000800000000000")),
        box(b"text", bytes.fromhex("00010000000000000000000000000000000100000000000000000000000000004000")),
    )
    media = box(
        b"mdia",
        mdhd(_TEXT_TIMESCALE, sum(spans)),
        hdlr(b"text", b"SubtitleHandler"),
        box(b"minf", header, dinf(), table),
    )
    edit = box(b"edts", full_box(b"elst", 1, 0, struct.pack(">IQqhh", 1, movie_units(duration), 0, 1, 0)))
    return box(b"trak", tkhd(2, duration, flags=2, volume=0), edit, media)  # flags 2: in the movie, not shown


def udta(chapters: Sequence[Chapter], tags: dict[str, str], cover: tuple[bytes, str] | None) -> Box:
    items = [_tag(_TAGS[name], 1, value.encode("utf-8")) for name, value in tags.items() if value and name in _TAGS]
    items.append(_tag(b"stik", 21, b"\x02"))  # media kind: audiobook
    if cover and cover[1].lower() in _COVER_TYPES:
        items.append(_tag(b"covr", _COVER_TYPES[cover[1].lower()], cover[0]))
    handler = full_box(b"hdlr", 0, 0, struct.pack(">I4s4s8x", 0, b"mdir", b"appl"), b"\x00")
    meta = full_box(b"meta", 0, 0, handler, box(b"ilst", *items))
    return box(b"udta", meta, *([_chpl(chapters)] if chapters else []))


def _tag(name: bytes, kind: int, value: bytes) -> Box:
    return box(name, box(b"data", struct.pack(">II", kind, 0), value))


def _chpl(chapters: Sequence[Chapter]) -> Box:
    """Nero chapters: starts in 100 ns units, at most 255 (what the format can count)."""
    entries = []
    for chapter in chapters[:255]:
        title = chapter.title.encode("utf-8")[:255]
        entries.append(struct.pack(">QB", round(chapter.start_seconds * 10_000_000), len(title)) + title)
    return full_box(b"chpl", 1, 0, bytes(4), bytes([len(entries)]), b"".join(entries))
