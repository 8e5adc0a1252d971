import io
import math
import struct
import wave
from pathlib import Path

import pytest

from producer.readers.text import read_text
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.jobs import check_format, parse_out
from worker.errors import BadInput


def write_wav(path: Path, seconds: float, rate: int = 16_000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(i / 7))) for i in range(int(seconds * rate))))
    return path


def test_reads_utf8_text_and_stdin(tmp_path: Path) -> None:
    file = tmp_path / "chapter.txt"
    file.write_text("Once upon a time.", encoding="utf-8")
    assert read_text(str(file)).text == "Once upon a time."
    assert read_text("-", stdin=io.StringIO("From a pipe.")).name == "stdin"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"   \n\t ", "empty"), (b"\xff\xfe\xfa bad", "not UTF-8"), (b"a\x00b", "NUL")],
)
def test_bad_text_files_are_explained(tmp_path: Path, content: bytes, message: str) -> None:
    file = tmp_path / "bad.txt"
    file.write_bytes(content)
    with pytest.raises(BadInput, match=message):
        read_text(str(file))


def test_missing_directory_and_unsupported_files(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        read_text(str(tmp_path / "nope.txt"))
    with pytest.raises(BadInput, match="directory"):
        read_text(str(tmp_path))
    (tmp_path / "book.pdf").write_bytes(b"%PDF")
    with pytest.raises(BadInput, match="unsupported"):
        read_text(str(tmp_path / "book.pdf"))


@pytest.mark.parametrize(
    "url",
    [
        "bucket/prefix",
        "s3://",
        "http://bucket/x",
        "s3://Bad_Bucket/x",
        "s3://bucket/../x",
        "s3://bucket/a/%2e%2e/b",
        "s3://bucket/a\x07b",
        "s3://bucket//abs",
        "s3://bucket/x?y=1",
    ],
)
def test_bad_output_urls(url: str) -> None:
    with pytest.raises(BadInput, match="--out"):
        parse_out(url)


def test_good_output_urls() -> None:
    assert parse_out("s3://books") == ("books", "")
    assert parse_out("s3://books/series/vol-1/") == ("books", "series/vol-1")


def test_format_check() -> None:
    assert check_format("opus") == "opus"
    with pytest.raises(BadInput, match="mp3, wav, opus"):
        check_format("flac")


def test_clip_checks(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", 12)
    voice = prepare_clip_voice([ClipInput(good, "  The exact   words. ")])
    assert voice.warnings == []
    assert voice.clips[0].transcript == "The exact words."
    assert len(voice.reference_hash) == 64

    short = prepare_clip_voice([ClipInput(write_wav(tmp_path / "short.wav", 3), "Words.")])
    assert "3.0 s" in short.warnings[0] and "10-30 s" in short.warnings[0]
    long = prepare_clip_voice([ClipInput(write_wav(tmp_path / "long.wav", 31), "Words.")])
    assert "31.0 s" in long.warnings[0]

    with pytest.raises(BadInput, match="at least 1 s"):
        prepare_clip_voice([ClipInput(write_wav(tmp_path / "tiny.wav", 0.4), "Hi.")])
    with pytest.raises(BadInput, match="transcript is empty"):
        prepare_clip_voice([ClipInput(good, "   ")])
    not_audio = tmp_path / "notes.wav"
    not_audio.write_text("these are notes, not audio" * 20)
    with pytest.raises(BadInput, match="not decodable"):
        prepare_clip_voice([ClipInput(not_audio, "Words.")])
    with pytest.raises(BadInput, match="not found"):
        prepare_clip_voice([ClipInput(tmp_path / "missing.wav", "Words.")])
