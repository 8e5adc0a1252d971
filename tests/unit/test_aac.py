"""A chapter's book part as bare AAC frames: one priming frame, then one per 1024 samples, sizes that add up."""

import av
import numpy as np
import pytest

from worker.audio.aac import AacFrames, nearest_frames
from worker.errors import AudioError

RATE = 44_100


def _tone(samples: int) -> np.ndarray:
    t = np.arange(samples) / RATE
    return (0.2 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 2 * t)) / 2).astype(np.float32)


def test_blocks_of_any_length_become_one_priming_frame_and_one_per_1024_samples(tmp_path) -> None:
    samples = nearest_frames(RATE * 3 + 5)
    audio, frames = _tone(samples), AacFrames(tmp_path / "part.aac", rate=RATE)
    for start, stop in [(0, 1_000), (1_000, 1_001), (1_001, 50_000), (50_000, samples)]:
        frames.write(audio[start:stop])
    frames.close()
    assert frames.sizes.size == samples // 1024 + 1
    assert int(frames.sizes.sum()) == (tmp_path / "part.aac").stat().st_size
    # Raw frames with their AudioSpecificConfig decode to the priming frame, then exactly the samples given.
    codec = av.CodecContext.create("aac", "r")
    codec.extradata = frames.config
    data, decoded, offset = (tmp_path / "part.aac").read_bytes(), [], 0
    for size in frames.sizes:
        decoded += [f.to_ndarray().reshape(-1) for f in codec.decode(av.Packet(data[offset : offset + int(size)]))]
        offset += int(size)
    decoded += [f.to_ndarray().reshape(-1) for f in codec.decode(None)]
    out = np.concatenate(decoded)[1024:]
    assert out.size == samples
    assert np.corrcoef(out[2048 : samples - 2048], audio[2048 : samples - 2048])[0, 1] > 0.99


def test_a_part_that_is_not_whole_frames_is_refused(tmp_path) -> None:
    frames = AacFrames(tmp_path / "part.aac", rate=RATE)
    frames.write(_tone(3_000))
    with pytest.raises(AudioError, match="whole AAC frame"):
        frames.close()
