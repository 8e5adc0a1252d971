"""Audio with PyAV: measure, encode 16-bit PCM, concatenate rendered parts.

Everything works on bytes in memory; parts are decoded and encoded one frame
at a time so concatenation never holds more than one part's PCM at once.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

import av
import av.error

from worker.errors import AudioError

OutputFormat = Literal["mp3", "wav", "opus"]
FORMATS: tuple[str, ...] = ("mp3", "wav", "opus")
CONTENT_TYPES: dict[str, str] = {
    "mp3": "audio/mpeg",
    "wav": "audio/wav",
    "opus": "audio/ogg",
    "pcm": "application/octet-stream",
}

# container, codec, sample rate (None keeps the input's), codec options
_ENCODERS: dict[str, tuple[str, str, int | None, dict[str, str]]] = {
    "mp3": ("mp3", "libmp3lame", None, {}),
    "wav": ("wav", "pcm_s16le", None, {}),
    "opus": ("ogg", "libopus", 48_000, {}),  # Opus only runs at 48 kHz (or its divisors)
}
_MP3_BIT_RATE = 128_000
_OPUS_BIT_RATE = 32_000


@dataclass(frozen=True)
class AudioInfo:
    duration_seconds: float
    sample_rate: int
    channels: int
    codec: str


def probe(data: bytes) -> AudioInfo:
    """Decode `data` fully and measure it; raise AudioError when it is not audio."""
    if not data:
        raise AudioError("the audio is empty (0 bytes)")
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioError("the file holds no audio stream")
            stream = container.streams.audio[0]
            samples = 0
            rate = stream.codec_context.sample_rate or 0
            for frame in container.decode(stream):
                samples += frame.samples
                rate = frame.sample_rate or rate
            if samples == 0 or rate == 0:
                raise AudioError("the audio stream decodes to no samples")
            return AudioInfo(
                duration_seconds=samples / rate,
                sample_rate=rate,
                channels=stream.codec_context.channels or 1,
                codec=stream.codec_context.name,
            )
    except AudioError:
        raise
    except (av.error.FFmpegError, ValueError, IndexError) as exc:
        raise AudioError(f"not decodable audio ({exc.__class__.__name__}: {exc})") from exc


def encode_pcm16(pcm: bytes, *, sample_rate: int, fmt: str) -> bytes:
    """Encode mono signed 16-bit little-endian PCM into `fmt` (mp3, wav, opus, pcm)."""
    if fmt == "pcm":
        return pcm
    encoder = _Encoder(fmt=fmt, sample_rate=sample_rate)
    encoder.write_pcm16(pcm, sample_rate=sample_rate)
    return encoder.finish()


def resample_pcm16(pcm: bytes, *, from_rate: int, to_rate: int) -> bytes:
    """Resample mono s16le PCM with libswresample (through PyAV)."""
    if from_rate == to_rate or not pcm:
        return pcm
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm[: (len(pcm) // 2) * 2])
    frame.sample_rate = from_rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out: list[bytes] = []
    for chunk in [*resampler.resample(frame), *resampler.resample(None)]:
        # Planes can be padded past the last sample.
        out.append(bytes(chunk.planes[0])[: chunk.samples * 2])
    return b"".join(out)


def concatenate(parts: Iterable[bytes], *, fmt: str, pause_seconds: float = 0.0) -> bytes:
    """Decode each encoded part in turn and encode them as one stream in `fmt`.

    The output takes the first part's sample rate; `pause_seconds` of silence
    goes between parts.
    """
    encoder: _Encoder | None = None
    for index, part in enumerate(parts):
        try:
            with av.open(io.BytesIO(part), mode="r") as container:
                stream = container.streams.audio[0]
                for frame in container.decode(stream):
                    if encoder is None:
                        encoder = _Encoder(fmt=fmt, sample_rate=frame.sample_rate)
                    elif index > 0 and pause_seconds > 0 and encoder.pending_pause:
                        encoder.write_silence(pause_seconds)
                    encoder.pending_pause = False
                    encoder.write_frame(frame)
        except (av.error.FFmpegError, IndexError) as exc:
            raise AudioError(f"part {index + 1} is not decodable audio: {exc}") from exc
        if encoder is not None:
            encoder.end_input()
            encoder.pending_pause = True
    if encoder is None:
        raise AudioError("nothing to concatenate: no part held audio")
    return encoder.finish()


def open_memory_output(buffer: io.BytesIO, *, fmt: str) -> av.container.OutputContainer:
    """A container written into `buffer`, never to a file.

    FFmpeg's "no file" muxers (image2, segment, hls, ...) open files by the container's
    name, and PyAV names an in-memory container "<none>": writing one would leave a
    file of that name in the working directory instead of filling the buffer.
    """
    if av.ContainerFormat(fmt, "w").no_file:
        raise AudioError(f"the {fmt!r} muxer writes files by name, not into memory; use a format such as mjpeg, mp3 or wav")
    return av.open(buffer, mode="w", format=fmt)


class _Encoder:
    """One output stream; frames of any layout and rate are resampled to mono s16 at its rate."""

    def __init__(self, *, fmt: str, sample_rate: int) -> None:
        if fmt not in _ENCODERS:
            raise AudioError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
        container_format, codec, fixed_rate, options = _ENCODERS[fmt]
        self._buffer = io.BytesIO()
        self._container = open_memory_output(self._buffer, fmt=container_format)
        self.rate = fixed_rate or sample_rate
        self._stream = self._container.add_stream(codec, rate=self.rate, options=options)
        self._stream.layout = "mono"
        if fmt == "mp3":
            self._stream.bit_rate = _MP3_BIT_RATE
        elif fmt == "opus":
            self._stream.bit_rate = _OPUS_BIT_RATE
        self._format = self._stream.codec_context.format.name
        self._resampler: av.AudioResampler | None = None
        self._samples_written = 0
        self._time_base = Fraction(1, self.rate)
        self.pending_pause = False

    def write_frame(self, frame: av.AudioFrame) -> None:
        # A resampler is bound to its first frame's layout and rate: one per input.
        if self._resampler is None:
            self._resampler = av.AudioResampler(format=self._format, layout="mono", rate=self.rate)
        frame.pts = None
        self._mux(self._resampler.resample(frame))

    def end_input(self) -> None:
        """Flush the current input's resampler; the next frame may have another layout or rate."""
        if self._resampler is not None:
            self._mux(self._resampler.resample(None))
            self._resampler = None

    def _mux(self, frames: list[av.AudioFrame]) -> None:
        # Each input gets a fresh resampler whose timestamps restart at zero:
        # stamp frames from one running sample count so the muxer sees them rise.
        for resampled in frames:
            resampled.pts = self._samples_written
            resampled.time_base = self._time_base
            self._samples_written += resampled.samples
            self._container.mux(self._stream.encode(resampled))

    def write_pcm16(self, pcm: bytes, *, sample_rate: int) -> None:
        samples = len(pcm) // 2
        step = 4096
        for start in range(0, samples, step):
            block = pcm[start * 2 : (start + step) * 2]
            frame = av.AudioFrame(format="s16", layout="mono", samples=len(block) // 2)
            frame.planes[0].update(block)
            frame.sample_rate = sample_rate
            self.write_frame(frame)
        self.end_input()

    def write_silence(self, seconds: float) -> None:
        self.write_pcm16(bytes(2 * int(seconds * self.rate)), sample_rate=self.rate)

    def finish(self) -> bytes:
        self.end_input()
        self._container.mux(self._stream.encode(None))
        self._container.close()
        return self._buffer.getvalue()
