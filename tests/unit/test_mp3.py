"""MP3 files from LAME (lameenc) muxed by FFmpeg: exactly the samples given, where they were given, as constant bit
rate."""

import shutil
import subprocess

import av
import numpy as np
import pytest

from worker.audio.assembly import AudioFileWriter
from worker.audio.mp3 import frame_samples


def _speechlike(rate: int, samples: int) -> np.ndarray:
    """A voiced sound: harmonics of a gliding pitch, in syllables; its upper harmonics show a shift of one sample."""
    t = np.arange(samples) / rate
    phase = 2 * np.pi * (140 * t + 15 * np.sin(2 * np.pi * 0.7 * t))
    voice = sum(np.sin(k * phase) / k for k in range(1, 25) if k * 180 < rate / 2)
    envelope = (0.5 * (1 + np.sin(2 * np.pi * 3.1 * t))) ** 2
    return (0.12 * voice * envelope).astype(np.float32)


def _write(path, audio: np.ndarray, *, rate: int, bit_rate: int = 128_000, block: int = 10_000) -> AudioFileWriter:
    writer = AudioFileWriter(
        path, fmt="mp3", rate=rate, bit_rate=bit_rate, metadata={"title": "Chapter 1", "artist": "A. Author"}
    )
    for start in range(0, audio.size, block):
        writer.write(audio[start : start + block])
    writer.close()
    return writer


def _decoded(path) -> tuple[np.ndarray, set[int], dict[str, str]]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        rates = {packet.size for packet in container.demux(stream) if packet.size}
    with av.open(str(path)) as container:
        audio = np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(audio=0)])
        return audio, rates, dict(container.metadata)


@pytest.mark.parametrize(
    ("rate", "samples"),
    [(44_100, 44_100 * 7 + 333), (48_000, 48_000 * 3 + 1), (22_050, 22_050 * 5 + 577), (24_000, 1_000)],
)
def test_an_mp3_decodes_to_exactly_the_samples_written_and_in_place(tmp_path, rate: int, samples: int) -> None:
    audio = _speechlike(rate, samples)
    writer = _write(tmp_path / "c.mp3", audio, rate=rate)
    decoded, sizes, metadata = _decoded(tmp_path / "c.mp3")

    assert writer.samples_written == samples
    assert decoded.size == samples  # the Info tag's delay and padding, honoured by the decoder
    lags = range(-3, 4)
    scores = (
        [float(np.dot(audio[2000 : samples - 2000], decoded[2000 + lag : samples - 2000 + lag])) for lag in lags]
        if samples > 5000
        else []
    )
    if scores:
        assert lags[int(np.argmax(scores))] == 0
        error = audio - decoded
        assert 10 * np.log10(np.sum(audio**2) / np.sum(error**2)) > 15  # a faithful encode, not silence or noise
    assert metadata.get("title") == "Chapter 1" and metadata.get("artist") == "A. Author"
    # Constant bit rate: every frame the same size up to the one padding byte.
    assert max(sizes) - min(sizes) <= 1
    assert frame_samples(rate) == (1152 if rate >= 32_000 else 576)


def test_constant_bit_rate_is_the_one_asked_for(tmp_path) -> None:
    _write(tmp_path / "c.mp3", _speechlike(44_100, 44_100 * 4), rate=44_100, bit_rate=192_000)
    with av.open(str(tmp_path / "c.mp3")) as container:
        assert container.streams.audio[0].codec_context.bit_rate == 192_000
        frames = [p for p in container.demux(audio=0) if p.size]
    assert {p.size for p in frames} <= {626, 627}  # 144 * 192000 / 44100 bytes, with or without the padding byte


@pytest.mark.skipif(
    shutil.which("ffmpeg") is None, reason="an independent decoder (ffmpeg's command line) is not installed"
)
def test_another_decoder_reads_the_same_length(tmp_path) -> None:
    samples = 44_100 * 3 + 91
    _write(tmp_path / "c.mp3", _speechlike(44_100, samples), rate=44_100)
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(tmp_path / "c.mp3"), "-f", "s16le", "-"], capture_output=True, check=True
    ).stdout
    assert len(pcm) // 2 == samples
