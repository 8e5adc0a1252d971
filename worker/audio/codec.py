"""Audio with PyAV: measure, encode 16-bit PCM, concatenate rendered parts.

Short audio works on bytes in memory; parts are decoded and encoded one frame
at a time so concatenation never holds more than one part's PCM at once, and a
long output is written into a file as it goes (`concatenate_to_file`).
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
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


def probe(data: bytes | Path) -> AudioInfo:
    """Decode `data` (or the file at that path) fully and measure it; raise AudioError when it is not audio."""
    if not (data.stat().st_size if isinstance(data, Path) else data):
        raise AudioError("the audio is empty (0 bytes)")
    try:
        with av.open(str(data) if isinstance(data, Path) else io.BytesIO(data), mode="r") as container:
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
    buffer = io.BytesIO()
    encoder = _Encoder(fmt=fmt, sample_rate=sample_rate, output=buffer)
    encoder.write_pcm16(pcm, sample_rate=sample_rate)
    encoder.finish()
    return buffer.getvalue()


def padded_wav(data: bytes, *, at_least_seconds: float) -> bytes:
    """A WAV at least this long: silence after the audio, the audio's own samples unchanged (a recognizer that
    takes nothing under a second still hears a short take)."""
    info = probe(data)
    missing = max(0, round((at_least_seconds - info.duration_seconds) * info.sample_rate))
    if not missing:
        return data
    silence = encode_pcm16(b"\0\0" * missing, sample_rate=info.sample_rate, fmt="wav")
    return concatenate([data, silence], fmt="wav")


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
    buffer = io.BytesIO()
    _concatenate(parts, fmt=fmt, pause_seconds=pause_seconds, output=buffer)
    return buffer.getvalue()


def concatenate_to_file(parts: Iterable[bytes], path: Path, *, fmt: str, pause_seconds: float = 0.0) -> None:
    """`concatenate` into the file at `path`, written as the parts come: hours of WAV are never whole in memory."""
    _concatenate(parts, fmt=fmt, pause_seconds=pause_seconds, output=path)


def _concatenate(parts: Iterable[bytes], *, fmt: str, pause_seconds: float, output: io.BytesIO | Path) -> None:
    encoder: _Encoder | None = None
    try:
        for index, part in enumerate(parts):
            with contextlib.closing(_decoded(part, index=index)) as frames:
                for frame in frames:
                    if encoder is None:
                        encoder = _Encoder(fmt=fmt, sample_rate=frame.sample_rate, output=output)
                    elif index > 0 and pause_seconds > 0 and encoder.pending_pause:
                        encoder.write_silence(pause_seconds)
                    encoder.pending_pause = False
                    encoder.write_frame(frame)
            if encoder is not None:
                encoder.end_input()
                encoder.pending_pause = True
        if encoder is None:
            raise AudioError("nothing to concatenate: no part held audio")
        encoder.finish()
    except BaseException:
        if encoder is not None:
            encoder.abandon()  # a file left open would keep its disk space after its folder is removed
        raise


def _decoded(part: bytes, *, index: int) -> Iterator[av.AudioFrame]:
    """A part's frames; only its decoding is blamed on it (writing the output, a full disk say, is not)."""
    try:
        with av.open(io.BytesIO(part), mode="r") as container:
            yield from container.decode(container.streams.audio[0])
    except (av.error.FFmpegError, IndexError) as exc:
        raise AudioError(f"part {index + 1} is not decodable audio: {exc}") from exc


def open_memory_output(buffer: io.BytesIO, *, fmt: str) -> av.container.OutputContainer:
    """A container written into `buffer`, never to a file.

    FFmpeg's "no file" muxers (image2, segment, hls, ...) open files by the container's
    name, and PyAV names an in-memory container "<none>": writing one would leave a
    file of that name in the working directory instead of filling the buffer.
    """
    if av.ContainerFormat(fmt, "w").no_file:
        raise AudioError(
            f"the {fmt!r} muxer writes files by name, not into memory; use a format such as mjpeg, mp3 or wav"
        )
    return av.open(buffer, mode="w", format=fmt)


class _Encoder:
    """One output stream, into a buffer or a file; frames of any layout and rate are resampled to mono s16 at its
    rate."""

    def __init__(self, *, fmt: str, sample_rate: int, output: io.BytesIO | Path) -> None:
        if fmt not in _ENCODERS:
            raise AudioError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")
        container_format, codec, fixed_rate, options = _ENCODERS[fmt]
        if isinstance(output, Path):
            self._container = av.open(str(output), mode="w", format=container_format)
        else:
            self._container = open_memory_output(output, fmt=container_format)
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

    def finish(self) -> None:
        self.end_input()
        self._container.mux(self._stream.encode(None))
        self._container.close()

    def abandon(self) -> None:
        """Let go of the output unfinished, after a failure."""
        with contextlib.suppress(av.error.FFmpegError, OSError):
            self._container.close()
