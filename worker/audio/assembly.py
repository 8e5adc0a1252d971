"""Streaming audio assembly with PyAV: decode parts to float PCM, write one long file.

Nothing here holds more than one part's PCM: parts are decoded block by block
and the writer encodes to a file on disk as it goes, so assembling a ten-hour
book takes the memory of a few seconds of audio.
"""

from __future__ import annotations

import contextlib
import io
import wave
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from worker.audio.mp3 import Mp3Stream
from worker.errors import AudioError

# container, codec, fixed sample rate (None: the writer's), bit rate
_WRITERS: dict[str, tuple[str, str, int | None, int | None]] = {
    "mp3": ("mp3", "libmp3lame", None, 128_000),  # encoded by worker.audio.mp3
    "wav": ("wav", "pcm_s16le", None, None),
    "opus": ("ogg", "libopus", 48_000, 48_000),
}
BLOCK_SECONDS = 1.0  # decoded audio is handed on in blocks of about this length: fewer, larger numpy calls


def file_bytes_per_second(fmt: str, *, rate: int, bit_rate: int | None = None) -> float:
    """About how many bytes a second of mono audio takes in an AudioFileWriter's file (the container's few bytes
    aside)."""
    if fmt not in _WRITERS:
        raise AudioError(f"unknown output format {fmt!r}; use one of {', '.join(_WRITERS)}")
    _, codec, fixed_rate, default_bit_rate = _WRITERS[fmt]
    if codec.startswith("pcm_s16"):
        return 2.0 * (fixed_rate or rate)
    return (bit_rate or default_bit_rate or 0) / 8


def pcm_blocks(data: bytes, *, rate: int) -> Iterator[np.ndarray]:
    """Mono float32 blocks (about BLOCK_SECONDS each) of an encoded part, resampled to `rate`."""
    samples = _mono_pcm16_wav(data, rate=rate)
    if samples is not None:
        # A book's chunks are mono 16-bit WAVs at the book's rate: read as they are, 8x faster than decoding them.
        step = max(1, int(rate * BLOCK_SECONDS))
        for start in range(0, samples.size, step):
            yield samples[start : start + step].astype(np.float32) * np.float32(1 / 32768)  # as FFmpeg converts s16
        return
    yield from decoded_blocks(data, rate=rate)


def decoded_blocks(data: bytes, *, rate: int) -> Iterator[np.ndarray]:
    """`pcm_blocks` for any format FFmpeg reads: decoded, resampled to `rate`."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    target = max(1, int(rate * BLOCK_SECONDS))
    pending: list[np.ndarray] = []
    size = 0
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            for frame in container.decode(container.streams.audio[0]):
                frame.pts = None
                for out in resampler.resample(frame):
                    pending.append(out.to_ndarray().reshape(-1))
                    size += out.samples
                if size >= target:
                    yield np.concatenate(pending)
                    pending, size = [], 0
        for out in resampler.resample(None):
            pending.append(out.to_ndarray().reshape(-1))
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioError(f"not decodable audio: {exc}") from exc
    if pending:
        yield np.concatenate(pending)


def _mono_pcm16_wav(data: bytes, *, rate: int) -> np.ndarray | None:
    """The samples of a mono 16-bit PCM WAV at `rate`; None for anything else (FFmpeg decodes that)."""
    try:
        with wave.open(io.BytesIO(data)) as wav:
            if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate(), wav.getcomptype()) != (1, 2, rate, "NONE"):
                return None
            return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    except (wave.Error, EOFError, ValueError):
        return None


def first_sample_rate(data: bytes) -> int:
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return int(container.streams.audio[0].codec_context.sample_rate)
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioError(f"not decodable audio: {exc}") from exc


class AudioFileWriter:
    """Encode mono float PCM at `rate` into `path` as mp3, wav or opus (a book's .m4b is joined, not encoded:
    worker.audio.mp4)."""

    def __init__(
        self,
        path: Path,
        *,
        fmt: str,
        rate: int,
        metadata: dict[str, str] | None = None,
        bit_rate: int | None = None,
    ) -> None:
        """`bit_rate` overrides the format's default (mp3: constant bit rate, as stores ask)."""
        if fmt not in _WRITERS:
            raise AudioError(f"unknown output format {fmt!r}; use one of {', '.join(_WRITERS)}")
        container_format, codec, fixed_rate, default_bit_rate = _WRITERS[fmt]
        bit_rate = bit_rate or default_bit_rate
        self.rate = rate
        self._container = av.open(str(path), mode="w", format=container_format)
        for key, value in (metadata or {}).items():
            if value:
                self._container.metadata[key] = value
        self.samples_written = 0  # samples at `rate`, for chapter and subtitle times
        self._closed = False
        self._mp3 = Mp3Stream(self._container, rate=rate, bit_rate=bit_rate) if fmt == "mp3" else None
        if self._mp3 is not None:
            return
        encoder_rate = fixed_rate or rate
        self._stream = self._container.add_stream(codec, rate=encoder_rate)
        self._stream.layout = "mono"
        if bit_rate:
            self._stream.bit_rate = bit_rate
        self._resampler = av.AudioResampler(
            format=self._stream.codec_context.format.name, layout="mono", rate=encoder_rate
        )
        self._time_base = Fraction(1, encoder_rate)
        self._encoded = 0  # samples at the encoder's rate, for timestamps

    @property
    def seconds_written(self) -> float:
        return self.samples_written / self.rate

    def write(self, block: np.ndarray) -> None:
        if block.size == 0:
            return
        if self._mp3 is not None:
            self.samples_written += block.size
            self._mp3.write(block)
            return
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(block, dtype=np.float32).reshape(1, -1), format="flt", layout="mono"
        )
        frame.sample_rate = self.rate
        self.samples_written += block.size
        self._mux(self._resampler.resample(frame))

    def close(self) -> None:
        """Flush and finish the file."""
        if self._mp3 is not None:
            self._mp3.close()
        else:
            self._mux(self._resampler.resample(None))
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        self._closed = True
        self._container.close()

    def discard(self) -> None:
        """After a failure: let go of the file unfinished (an open file keeps its disk space after it is deleted)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(av.error.FFmpegError, OSError):  # a full disk may refuse the trailer too
                self._container.close()

    def _mux(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            frame.pts = self._encoded
            frame.time_base = self._time_base
            self._encoded += frame.samples
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
