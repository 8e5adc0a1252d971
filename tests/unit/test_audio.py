import errno
import math
import os
import struct
from pathlib import Path

import pytest

from worker.audio import codec
from worker.errors import AudioError

RATE = 22_050


def tone(seconds: float, *, rate: int = RATE) -> bytes:
    return b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )


@pytest.mark.parametrize("fmt", ["mp3", "wav", "opus"])
def test_encode_then_probe_keeps_the_duration(fmt: str) -> None:
    data = codec.encode_pcm16(tone(1.5), sample_rate=RATE, fmt=fmt)
    info = codec.probe(data)
    assert info.duration_seconds == pytest.approx(1.5, abs=0.08)
    assert info.channels == 1


def test_concatenate_adds_parts_and_pauses_across_formats() -> None:
    parts = [
        codec.encode_pcm16(tone(1.0), sample_rate=RATE, fmt="wav"),
        codec.encode_pcm16(tone(2.0, rate=44_100), sample_rate=44_100, fmt="mp3"),
    ]
    joined = codec.concatenate(parts, fmt="opus", pause_seconds=0.5)
    assert codec.probe(joined).duration_seconds == pytest.approx(3.5, abs=0.1)


@pytest.mark.parametrize("data", [b"", b"RIFF\x00\x00garbage" * 20, b"plain text, not audio" * 50])
def test_probe_refuses_what_is_not_audio(data: bytes) -> None:
    with pytest.raises(AudioError):
        codec.probe(data)


def test_unknown_format_is_refused() -> None:
    with pytest.raises(AudioError, match="unknown output format"):
        codec.encode_pcm16(tone(0.1), sample_rate=RATE, fmt="flac")


def test_an_in_memory_container_never_writes_a_file(tmp_path, monkeypatch) -> None:
    """FFmpeg's image2 muxer would write a file named "<none>" into the working directory."""
    import io

    import pytest

    from worker.errors import AudioError

    monkeypatch.chdir(tmp_path)
    with pytest.raises(AudioError, match="writes files by name"):
        codec.open_memory_output(io.BytesIO(), fmt="image2")
    with codec.open_memory_output(io.BytesIO(), fmt="mjpeg"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_a_wav_chunk_at_the_books_rate_reads_as_ffmpeg_decodes_it() -> None:
    import numpy as np

    from worker.audio.assembly import decoded_blocks, pcm_blocks

    rate = 44_100
    rng = np.random.default_rng(5)
    pcm = (rng.standard_normal(rate * 2 + 123) * 6000).clip(-32768, 32767).astype("<i2")
    pcm[:4] = [-32768, 32767, 0, -1]
    wav = codec.encode_pcm16(pcm.tobytes(), sample_rate=rate, fmt="wav")
    fast = np.concatenate(list(pcm_blocks(wav, rate=rate)))
    decoded = np.concatenate(list(decoded_blocks(wav, rate=rate)))
    assert fast.dtype == decoded.dtype == np.float32
    np.testing.assert_array_equal(fast, decoded)
    # Any other rate is resampled by FFmpeg, as before.
    assert abs(sum(block.size for block in pcm_blocks(wav, rate=22_050)) - pcm.size // 2) <= 2


def wav_parts(count: int, *, seconds: float = 1.0) -> list[bytes]:
    return [codec.encode_pcm16(tone(seconds), sample_rate=RATE, fmt="wav") for _ in range(count)]


@pytest.mark.parametrize("fmt", ["wav", "mp3"])  # (Ogg picks a random stream serial: no two opus files are alike)
def test_joining_into_a_file_gives_the_same_bytes_as_in_memory(fmt: str, tmp_path) -> None:
    parts = wav_parts(3)
    path = tmp_path / f"joined.{fmt}"
    codec.concatenate_to_file(parts, path, fmt=fmt, pause_seconds=0.3)
    assert path.read_bytes() == codec.concatenate(parts, fmt=fmt, pause_seconds=0.3)
    assert codec.probe(path) == codec.probe(path.read_bytes())


def test_joining_into_a_file_writes_each_part_out_before_the_next_arrives(tmp_path) -> None:
    path = tmp_path / "joined.wav"
    [part] = wav_parts(1, seconds=5.0)
    count, part_bytes, buffered = 40, 2 * 5 * RATE, 3 * 2**20  # 8.8 MB of output; FFmpeg writes out every 2 MiB
    sizes: list[int] = []

    def parts():  # noqa: ANN202 - what is on disk is looked at as each next part is asked for
        for _ in range(count):
            sizes.append(path.stat().st_size if path.exists() else 0)
            yield part

    codec.concatenate_to_file(parts(), path, fmt="wav")
    assert all(size >= (n - 1) * part_bytes - buffered for n, size in enumerate(sizes, start=1)), sizes
    assert sizes[-1] >= (count - 1) * part_bytes - buffered > count * part_bytes / 2, (
        "most of it was on disk before the end"
    )


def test_a_full_disk_while_joining_is_not_blamed_on_a_part_and_leaves_nothing_open() -> None:
    with pytest.raises(OSError) as caught:
        codec.concatenate_to_file(wav_parts(3), Path("/dev/full"), fmt="wav")
    assert not isinstance(caught.value, AudioError) and caught.value.errno == errno.ENOSPC
    assert [fd for fd in Path("/proc/self/fd").iterdir() if _points_to(fd, "/dev/full")] == []


def _points_to(fd: Path, target: str) -> bool:
    try:
        return os.readlink(fd) == target
    except OSError:
        return False
