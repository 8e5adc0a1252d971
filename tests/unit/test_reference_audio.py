"""The wire form of a reference clip: FLAC only when it is lossless and smaller."""

import io

import av
import numpy as np
import pytest

from worker.audio.codec import encode_pcm16, open_memory_output
from worker.audio.flac import lossless_flac

RATE = 22_050


def speechlike(seconds: float, *, seed: int = 7) -> np.ndarray:
    """Noise shaped by a slow envelope, with pauses: compressible like speech, not trivially."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = np.clip(np.sin(2 * np.pi * 0.7 * t), 0, None)
    return (rng.normal(0, 3000, t.size) * envelope).clip(-32768, 32767).astype("<i2")


def wav(samples: np.ndarray, *, channels: int = 1, codec: str = "pcm_s16le", fmt: str = "s16") -> bytes:
    out = io.BytesIO()
    with open_memory_output(out, fmt="wav") as container:
        stream = container.add_stream(codec, rate=RATE, layout="mono" if channels == 1 else "stereo", format=fmt)
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format=fmt, layout=stream.layout.name)
        frame.sample_rate = RATE
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return out.getvalue()


def decoded(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data)) as container:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(container.streams.audio[0])])


def test_a_16_bit_wav_becomes_a_smaller_flac_with_identical_samples() -> None:
    samples = speechlike(5.0)
    clip = wav(samples)
    flac = lossless_flac(clip)
    assert flac is not None and flac[:4] == b"fLaC"
    assert len(flac) < 0.8 * len(clip)
    assert np.array_equal(decoded(flac), samples)


def test_stereo_keeps_both_channels_bit_for_bit() -> None:
    samples = np.stack([speechlike(2.0, seed=1), speechlike(2.0, seed=2)], axis=1).reshape(-1)  # interleaved
    clip = wav(samples, channels=2)
    flac = lossless_flac(clip)
    assert flac is not None and np.array_equal(decoded(flac), decoded(clip))
    with av.open(io.BytesIO(flac)) as container:
        assert container.streams.audio[0].codec_context.channels == 2


@pytest.mark.parametrize("fmt", ["mp3", "opus"])
def test_compressed_clips_are_sent_as_they_are(fmt: str) -> None:
    assert lossless_flac(encode_pcm16(speechlike(2.0).tobytes(), sample_rate=RATE, fmt=fmt)) is None


def test_float_wav_and_non_audio_are_sent_as_they_are() -> None:
    floats = (speechlike(1.0).astype(np.float32) / 32768).astype(np.float32)
    assert lossless_flac(wav(floats, codec="pcm_f32le", fmt="flt")) is None
    assert lossless_flac(b"RIFF0000WAVEnot really") is None
