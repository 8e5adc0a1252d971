"""An .m4b written box by box from AAC frames encoded elsewhere: no decoding, memory flat in the book's length.

FFmpeg's MP4 muxer keeps an index entry of about 70 bytes for every packet
until the file is closed: six million of them for a 40-hour book at 44.1 kHz.
Here the book's frames arrive already encoded, one part per chapter, each with
its frame sizes, so the whole index is known before the first byte is written:
it goes in front (a "faststart" file, playable while it downloads), built from
numpy arrays (4 bytes a frame), and the frames follow as they are: the book
task has S3 copy them from the chapters' parts (worker.storage.multipart). The layout is the one FFmpeg and iTunes write: an audio track whose edit
list hides the encoder's priming, QuickTime chapters (a text track the audio
track points to, read by Apple's players) and Nero chapters (`chpl`, read by
most others), iTunes tags with the cover, and `stik` marking an audiobook.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

FRAME_SAMPLES = 1024  # an AAC-LC frame
PRIMING_SAMPLES = 1024  # what FFmpeg's AAC encoder puts before the first input sample
_SAMPLES_PER_CHUNK = 64  # audio frames per MP4 chunk: about 1.5 s at 44.1 kHz
_MOVIE_TIMESCALE = 1000
_TEXT_TIMESCALE = 1000
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
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

Part = bytes | np.ndarray


@dataclass(frozen=True)
class Chapter:
    title: str
    start_seconds: float


@dataclass
class _Box:
    kind: bytes
    parts: list[Part | _Box]

    @property
    def size(self) -> int:
        inner = sum(part.size if isinstance(part, _Box) else _length(part) for part in self.parts)
        return inner + (16 if inner + 8 > 0xFFFFFFFF else 8)

    def write(self, out: BinaryIO) -> None:
        size = self.size
        out.write(
            struct.pack(">I4sQ", 1, self.kind, size) if size > 0xFFFFFFFF else struct.pack(">I4s", size, self.kind)
        )
        for part in self.parts:
            if isinstance(part, _Box):
                part.write(out)
            elif isinstance(part, np.ndarray):
                part.tofile(out)
            else:
                out.write(part)


def _length(part: Part) -> int:
    return part.nbytes if isinstance(part, np.ndarray) else len(part)


def box(kind: bytes, *parts: Part | _Box) -> _Box:
    return _Box(kind, list(parts))


def full_box(kind: bytes, version: int, flags: int, *parts: Part | _Box) -> _Box:
    return _Box(kind, [struct.pack(">I", (version << 24) | flags), *parts])


@dataclass(frozen=True)
class M4bLayout:
    """The file around the frames: the head (header, index, the data box's header), then the frames, then the titles."""

    header: _Box
    moov: _Box
    data_header: bytes
    tail: bytes  # the chapter titles' text samples, after the audio
    duration: float

    def write_head(self, out: BinaryIO) -> None:
        self.header.write(out)
        self.moov.write(out)
        out.write(self.data_header)


def m4b_layout(
    sizes: Sequence[np.ndarray],
    *,
    rate: int,
    audio_config: bytes,
    chapters: Sequence[Chapter],
    tags: dict[str, str] | None = None,
    cover: tuple[bytes, str] | None = None,
    bit_rate: int = 0,
) -> M4bLayout:
    """The book's layout for parts with these frame sizes; `audio_config`: the AAC AudioSpecificConfig of every part."""
    # The index's 4 bytes a frame, as each part brought them: never copied into one array.
    tables = [table if table.dtype == np.dtype(">u4") else table.astype(">u4") for table in sizes]
    frames = sum(table.size for table in tables)
    media_samples = frames * FRAME_SAMPLES
    shown_samples = max(0, media_samples - PRIMING_SAMPLES)
    duration = shown_samples / rate
    titles = [_text_sample(chapter.title) for chapter in chapters]
    marks = _chapter_spans(chapters, duration)

    header = box(b"ftyp", b"M4B ", struct.pack(">I", 0x200), b"isomiso2M4B M4A mp42")
    audio_bytes = sum(int(table.sum(dtype=np.int64)) for table in tables)
    text_bytes = sum(len(title) for title in titles)
    data_size = audio_bytes + text_bytes
    data_header = 16 if data_size + 8 > 0xFFFFFFFF else 8

    def movie(audio_offsets: np.ndarray, text_offset: int) -> _Box:
        return box(
            b"moov",
            _mvhd(duration, next_track=3),
            _audio_trak(
                tables,
                audio_offsets,
                rate=rate,
                config=audio_config,
                duration=duration,
                media_samples=media_samples,
                bit_rate=bit_rate,
                with_chapters=bool(chapters),
            ),
            *([_text_trak(titles, marks, text_offset, duration=duration)] if chapters else []),
            _udta(chapters, tags or {}, cover),
        )

    # The index sits before the data, so the data's offsets depend on the index's size, which does not
    # depend on their values: size it with zeros, then fill it in.
    chunk_bytes = np.concatenate([_chunk_sums(table) for table in tables]) if tables else np.zeros(0, dtype=np.int64)
    probe = movie(np.zeros(chunk_bytes.size, dtype=">u4"), 0)
    data_start = header.size + probe.size + data_header
    wide = data_start + data_size > 0xFFFFFFFF
    if wide:
        probe = movie(np.zeros(chunk_bytes.size, dtype=">u8"), 0)
        data_start = header.size + probe.size + data_header
    starts = (
        data_start + np.concatenate(([0], np.cumsum(chunk_bytes, dtype=np.int64)[:-1]))
        if chunk_bytes.size
        else np.zeros(0, dtype=np.int64)
    )
    offsets = starts.astype(">u8" if wide else ">u4")
    moov = movie(offsets, data_start + audio_bytes)
    assert moov.size == probe.size, "the index changed size once its offsets were filled in"
    mdat = (
        struct.pack(">I4sQ", 1, b"mdat", data_size + 16)
        if data_header == 16
        else struct.pack(">I4s", data_size + 8, b"mdat")
    )
    return M4bLayout(header=header, moov=moov, data_header=mdat, tail=b"".join(titles), duration=duration)


def _chunk_sums(sizes: np.ndarray) -> np.ndarray:
    """Bytes in each of a part's chunks of _SAMPLES_PER_CHUNK frames (its last may be shorter): chunks never span two parts."""
    if sizes.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(sizes, np.arange(0, sizes.size, _SAMPLES_PER_CHUNK), dtype=np.int64)


def _chapter_spans(chapters: Sequence[Chapter], duration: float) -> list[int]:
    """Each chapter's length in the text track's milliseconds; they add up to the book's."""
    starts = [round(chapter.start_seconds * _TEXT_TIMESCALE) for chapter in chapters]
    ends = starts[1:] + [round(duration * _TEXT_TIMESCALE)]
    return [max(0, end - start) for start, end in zip(starts, ends)]


def _text_sample(title: str) -> bytes:
    encoded = title.encode("utf-8")[:0xFFFF]
    return struct.pack(">H", len(encoded)) + encoded + _UTF8_MARK


def _movie_units(seconds: float) -> int:
    return round(seconds * _MOVIE_TIMESCALE)


def _mvhd(duration: float, *, next_track: int) -> _Box:
    return full_box(
        b"mvhd",
        1,
        0,
        struct.pack(">QQIQ", 0, 0, _MOVIE_TIMESCALE, _movie_units(duration)),
        struct.pack(">IH10x", 0x10000, 0x100),
        _MATRIX,
        bytes(24),
        struct.pack(">I", next_track),
    )


def _tkhd(track: int, duration: float, *, flags: int, volume: int) -> _Box:
    return full_box(
        b"tkhd",
        1,
        flags,
        struct.pack(">QQI4xQ8xhhH2x", 0, 0, track, _movie_units(duration), 0, 0, volume),
        _MATRIX,
        struct.pack(">II", 0, 0),
    )


def _mdhd(timescale: int, samples: int) -> _Box:
    return full_box(b"mdhd", 1, 0, struct.pack(">QQIQHH", 0, 0, timescale, samples, 0x55C4, 0))  # language "und"


def _hdlr(kind: bytes, name: bytes) -> _Box:
    return full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, kind), name + b"\x00")


def _dinf() -> _Box:
    return box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))


def _stsc(tables: list[np.ndarray], per_chunk: int) -> _Box:
    """Each part in chunks of `per_chunk` frames, its last one shorter if it must be; one entry where the count changes."""
    entries: list[tuple[int, int]] = []
    chunk = 1
    for table in tables:
        full, rest = divmod(int(table.size), per_chunk)
        for count, runs in ((per_chunk, full), (rest, 1 if rest else 0)):
            if runs and (not entries or entries[-1][1] != count):
                entries.append((chunk, count))
            chunk += runs
    return full_box(
        b"stsc",
        0,
        0,
        struct.pack(">I", len(entries)),
        b"".join(struct.pack(">III", first, n, 1) for first, n in entries),
    )


def _chunk_offsets(offsets: np.ndarray) -> _Box:
    kind = b"co64" if offsets.dtype.itemsize == 8 else b"stco"
    return full_box(kind, 0, 0, struct.pack(">I", offsets.size), offsets)


def _esds(config: bytes, bit_rate: int) -> _Box:
    def descriptor(tag: int, body: bytes) -> bytes:
        return bytes([tag, len(body)]) + body

    specific = descriptor(0x05, config)
    decoder = descriptor(0x04, struct.pack(">BB3sII", 0x40, 0x15, bytes(3), bit_rate, bit_rate) + specific)
    return full_box(b"esds", 0, 0, descriptor(0x03, struct.pack(">HB", 1, 0) + decoder + descriptor(0x06, b"\x02")))


def _audio_trak(
    tables: list[np.ndarray],
    offsets: np.ndarray,
    *,
    rate: int,
    config: bytes,
    duration: float,
    media_samples: int,
    bit_rate: int,
    with_chapters: bool,
) -> _Box:
    frames = sum(table.size for table in tables)
    entry = box(b"mp4a", bytes(6), struct.pack(">H8xHHHHI", 1, 1, 16, 0, 0, rate << 16), _esds(config, bit_rate))
    table = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), entry),
        full_box(b"stts", 0, 0, struct.pack(">III", 1, frames, FRAME_SAMPLES) if frames else struct.pack(">I", 0)),
        _stsc(tables, _SAMPLES_PER_CHUNK),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, frames), *tables),
        _chunk_offsets(offsets),
        # AAC frames overlap their neighbour: decoding from any frame needs the one before (roll -1)
        full_box(b"sgpd", 1, 0, b"roll", struct.pack(">IIh", 2, 1, -1)),
        full_box(b"sbgp", 0, 0, b"roll", struct.pack(">III", 1, frames, 1)),
    )
    media = box(
        b"mdia",
        _mdhd(rate, media_samples),
        _hdlr(b"soun", b"SoundHandler"),
        box(b"minf", full_box(b"smhd", 0, 0, bytes(4)), _dinf(), table),
    )
    edit = box(
        b"edts", full_box(b"elst", 1, 0, struct.pack(">IQqhh", 1, _movie_units(duration), PRIMING_SAMPLES, 1, 0))
    )
    reference = [box(b"tref", box(b"chap", struct.pack(">I", 2)))] if with_chapters else []
    return box(b"trak", _tkhd(1, duration, flags=3, volume=0x100), edit, *reference, media)


def _text_trak(titles: list[bytes], spans: list[int], offset: int, *, duration: float) -> _Box:
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
        _mdhd(_TEXT_TIMESCALE, sum(spans)),
        _hdlr(b"text", b"SubtitleHandler"),
        box(b"minf", header, _dinf(), table),
    )
    edit = box(b"edts", full_box(b"elst", 1, 0, struct.pack(">IQqhh", 1, _movie_units(duration), 0, 1, 0)))
    return box(
        b"trak", _tkhd(2, duration, flags=2, volume=0), edit, media
    )  # flags 2: in the movie, not shown as a track


def _udta(chapters: Sequence[Chapter], tags: dict[str, str], cover: tuple[bytes, str] | None) -> _Box:
    items = [_tag(_TAGS[name], 1, value.encode("utf-8")) for name, value in tags.items() if value and name in _TAGS]
    items.append(_tag(b"stik", 21, b"\x02"))  # media kind: audiobook
    if cover and cover[1].lower() in _COVER_TYPES:
        items.append(_tag(b"covr", _COVER_TYPES[cover[1].lower()], cover[0]))
    handler = full_box(b"hdlr", 0, 0, struct.pack(">I4s4s8x", 0, b"mdir", b"appl"), b"\x00")
    meta = full_box(b"meta", 0, 0, handler, box(b"ilst", *items))
    return box(b"udta", meta, *([_chpl(chapters)] if chapters else []))


def _tag(name: bytes, kind: int, value: bytes) -> _Box:
    return box(name, box(b"data", struct.pack(">II", kind, 0), value))


def _chpl(chapters: Sequence[Chapter]) -> _Box:
    """Nero chapters: starts in 100 ns units, at most 255 (what the format can count)."""
    entries = []
    for chapter in chapters[:255]:
        title = chapter.title.encode("utf-8")[:255]
        entries.append(struct.pack(">QB", round(chapter.start_seconds * 10_000_000), len(title)) + title)
    return full_box(b"chpl", 1, 0, bytes(4), bytes([len(entries)]), b"".join(entries))
