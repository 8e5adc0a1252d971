"""An .m4b written box by box from AAC frames encoded elsewhere: no decoding, memory flat in the book's length.

FFmpeg's MP4 muxer keeps an index entry of about 70 bytes for every packet
until the file is closed: six million of them for a 40-hour book at 44.1 kHz.
Here the book's frames arrive already encoded, one part per chapter, each with
its frame sizes, so the whole index is known before the first byte is written:
it goes in front (a "faststart" file, playable while it downloads), built from
numpy arrays (4 bytes a frame), and the frames follow as they are: the book
task has S3 copy them from the chapters' parts (worker.storage.multipart).
The layout is the one FFmpeg and iTunes write: an audio track whose edit
list hides the encoder's priming, QuickTime chapters (a text track the audio
track points to, read by Apple's players) and Nero chapters (`chpl`, read by
most others), iTunes tags with the cover, and `stik` marking an audiobook.
This module lays out the file and its audio track; the boxes are written by
worker.audio.mp4_boxes, the chapters, tags and cover by worker.audio.mp4_metadata.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np

from worker.audio.mp4_boxes import Box, box, dinf, full_box, hdlr, mdhd, movie_units, mvhd, tkhd
from worker.audio.mp4_metadata import Chapter, chapter_spans, text_sample, text_trak, udta

FRAME_SAMPLES = 1024  # an AAC-LC frame
PRIMING_SAMPLES = 1024  # what FFmpeg's AAC encoder puts before the first input sample
_SAMPLES_PER_CHUNK = 64  # audio frames per MP4 chunk: about 1.5 s at 44.1 kHz


@dataclass(frozen=True)
class M4bLayout:
    """The file around the frames: the head (header, index, the data box's header), then the frames, then the titles."""

    header: Box
    moov: Box
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
    titles = [text_sample(chapter.title) for chapter in chapters]
    marks = chapter_spans(chapters, duration)

    header = box(b"ftyp", b"M4B ", struct.pack(">I", 0x200), b"isomiso2M4B M4A mp42")
    audio_bytes = sum(int(table.sum(dtype=np.int64)) for table in tables)
    text_bytes = sum(len(title) for title in titles)
    data_size = audio_bytes + text_bytes
    data_header = 16 if data_size + 8 > 0xFFFFFFFF else 8

    def movie(audio_offsets: np.ndarray, text_offset: int) -> Box:
        return box(
            b"moov",
            mvhd(duration, next_track=3),
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
            *([text_trak(titles, marks, text_offset, duration=duration)] if chapters else []),
            udta(chapters, tags or {}, cover),
        )

    chunk_bytes = np.concatenate([_chunk_sums(table) for table in tables]) if tables else np.zeros(0, dtype=np.int64)
    moov = _indexed_movie(
        movie, chunk_bytes, before=header.size + data_header, data_size=data_size, audio_bytes=audio_bytes
    )
    mdat = (
        struct.pack(">I4sQ", 1, b"mdat", data_size + 16)
        if data_header == 16
        else struct.pack(">I4s", data_size + 8, b"mdat")
    )
    return M4bLayout(header=header, moov=moov, data_header=mdat, tail=b"".join(titles), duration=duration)


def _indexed_movie(
    movie: Callable[[np.ndarray, int], Box], chunk_bytes: np.ndarray, *, before: int, data_size: int, audio_bytes: int
) -> Box:
    """The movie box with the data's offsets filled in; `before`: the file header and the data box's header.

    The index sits before the data, so the data's offsets depend on the index's size, which does not
    depend on their values: size it with zeros, then fill it in.
    """
    probe = movie(np.zeros(chunk_bytes.size, dtype=">u4"), 0)
    data_start = before + probe.size
    wide = data_start + data_size > 0xFFFFFFFF
    if wide:
        probe = movie(np.zeros(chunk_bytes.size, dtype=">u8"), 0)
        data_start = before + probe.size
    starts = (
        data_start + np.concatenate(([0], np.cumsum(chunk_bytes, dtype=np.int64)[:-1]))
        if chunk_bytes.size
        else np.zeros(0, dtype=np.int64)
    )
    offsets = starts.astype(">u8" if wide else ">u4")
    moov = movie(offsets, data_start + audio_bytes)
    assert moov.size == probe.size, "the index changed size once its offsets were filled in"
    return moov


def _chunk_sums(sizes: np.ndarray) -> np.ndarray:
    """Bytes in each of a part's chunks of _SAMPLES_PER_CHUNK frames (its last may be shorter): chunks never span
    two parts."""
    if sizes.size == 0:
        return np.zeros(0, dtype=np.int64)
    return np.add.reduceat(sizes, np.arange(0, sizes.size, _SAMPLES_PER_CHUNK), dtype=np.int64)


def _stsc(tables: list[np.ndarray], per_chunk: int) -> Box:
    """Each part in chunks of `per_chunk` frames, its last one shorter if it must be; one entry where the count
    changes."""
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


def _chunk_offsets(offsets: np.ndarray) -> Box:
    kind = b"co64" if offsets.dtype.itemsize == 8 else b"stco"
    return full_box(kind, 0, 0, struct.pack(">I", offsets.size), offsets)


def _esds(config: bytes, bit_rate: int) -> Box:
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
) -> Box:
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
        mdhd(rate, media_samples),
        hdlr(b"soun", b"SoundHandler"),
        box(b"minf", full_box(b"smhd", 0, 0, bytes(4)), dinf(), table),
    )
    edit = box(b"edts", full_box(b"elst", 1, 0, struct.pack(">IQqhh", 1, movie_units(duration), PRIMING_SAMPLES, 1, 0)))
    reference = [box(b"tref", box(b"chap", struct.pack(">I", 2)))] if with_chapters else []
    return box(b"trak", tkhd(1, duration, flags=3, volume=0x100), edit, *reference, media)
