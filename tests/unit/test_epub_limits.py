"""EPUB archives are measured before they are unpacked: a zip bomb is refused with flat memory, and every limit
(the book, one document, the cover) says what was too big and which setting raises it."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from producer.readers.epub import read_epub
from producer.readers.epub_limits import EpubLimits
from tests.support.epubs import fable, write_epub
from worker.errors import BadInput
from worker.settings import Settings

_MB = 1024 * 1024
_ROOT = Path(__file__).resolve().parents[2]
LIMITS = EpubLimits(book_bytes=64 * _MB, document_bytes=4 * _MB, cover_bytes=4 * _MB)


def with_entry(book: Path, *, name: str, zeros: int, declared: int | None = None) -> Path:
    """`book` with its entry `name` replaced by `zeros` zero bytes, deflated (a few hundred KB), optionally declaring
    another size."""
    original = book.with_suffix(".original")
    book.rename(original)
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(book, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            if info.filename != name:
                archive.writestr(info, source.read(info))
        with archive.open(name, "w", force_zip64=zeros > 2**31) as out:
            block = bytes(_MB)
            for _ in range(zeros // _MB):
                out.write(block)
    if declared is not None:  # the central directory and the local header both say `declared`
        data = bytearray(book.read_bytes())
        with zipfile.ZipFile(book) as archive:
            info, start = archive.getinfo(name), archive.start_dir  # type: ignore[attr-defined]
        struct.pack_into("<I", data, info.header_offset + 22, declared)
        entry = start
        while data[entry + 46 : entry + 46 + len(name)] != name.encode():  # central directory records, in turn
            entry += 46 + sum(struct.unpack_from("<HHH", data, entry + 28))
        struct.pack_into("<I", data, entry + 24, declared)
        book.write_bytes(bytes(data))
    return book


_PEAK = """
import json, sys, tracemalloc
from pathlib import Path
from producer.readers.books import read_book
tracemalloc.start()
try:
    read_book(sys.argv[1])
    outcome = "read"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
print(json.dumps({"outcome": outcome, "peak": tracemalloc.get_traced_memory()[1]}))
"""


@pytest.mark.timeout(60)
def test_a_zip_bomb_is_refused_before_it_is_unpacked_with_flat_memory(tmp_path: Path) -> None:
    # A book of a few hundred KB holding 300 MB of zeros: the EPUB library read it whole (twice the size in memory).
    bomb = with_entry(fable(tmp_path / "bomb.epub"), name="EPUB/cover.jpg", zeros=300 * _MB)
    assert bomb.stat().st_size < 1 * _MB
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, str(bomb)], capture_output=True, text=True, cwd=_ROOT, timeout=50, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["outcome"] == (
        "BadInput: bomb.epub: its contents unpacked is 300.0 MB, over the 256.0 MB limit;"
        " raise NARRATE_EPUB_MAX_BYTES if it is expected"
    )
    assert result["peak"] < 16 * _MB, f"{result['peak'] / _MB:.0f} MB held while refusing it"


def test_an_entry_longer_than_it_declares_is_never_read_past_its_declared_size(tmp_path: Path) -> None:
    liar = with_entry(fable(tmp_path / "liar.epub"), name="EPUB/chapter-2.xhtml", zeros=64 * _MB, declared=1024)
    tracemalloc.start()
    try:
        with pytest.raises(
            BadInput,
            match=r"^liar\.epub: its entry EPUB/chapter-2\.xhtml does not unpack to the 1,024 bytes it declares",
        ):
            read_epub(liar, limits=LIMITS)
        assert tracemalloc.get_traced_memory()[1] < 16 * _MB
    finally:
        tracemalloc.stop()


def test_a_document_over_its_limit_is_refused_naming_the_setting(tmp_path: Path) -> None:
    book = write_epub(
        tmp_path / "long.epub", title="Long", author="A", chapters=[("One", ["word " * 30_000])], cover=False
    )
    with pytest.raises(
        BadInput,
        match=r"^long\.epub: its document EPUB/chapter-1\.xhtml is [\d,]+ bytes, over the 102,400 bytes limit;"
        r" raise NARRATE_EPUB_DOCUMENT_MAX_BYTES if it is expected$",
    ):
        read_epub(book, limits=EpubLimits(book_bytes=64 * _MB, document_bytes=100 * 1024, cover_bytes=4 * _MB))
    assert read_epub(book, limits=LIMITS).chapters[0].text.startswith("word word")


def test_the_file_itself_over_the_book_limit_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    book = fable(tmp_path / "fable.epub")
    with pytest.raises(
        BadInput,
        match=r"^fable\.epub: the file is [\d,]+ bytes, over the 2,048 bytes limit; raise NARRATE_EPUB_MAX_BYTES",
    ):
        read_epub(book, limits=EpubLimits(book_bytes=2048, document_bytes=2048, cover_bytes=2048))


def test_a_cover_over_its_limit_is_refused_before_the_book_is_submitted(tmp_path: Path) -> None:
    book = fable(tmp_path / "fable.epub")
    with pytest.raises(
        BadInput,
        match=r"^fable\.epub: the book's cover image \(cover\.jpg\) is [\d,]+ bytes, over the 100 bytes limit;"
        r" shrink the image .*, or raise NARRATE_COVER_MAX_BYTES if it is expected$",
    ):
        read_epub(book, limits=EpubLimits(book_bytes=64 * _MB, document_bytes=4 * _MB, cover_bytes=100))
    assert read_epub(book, limits=LIMITS).cover


def test_the_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NARRATE_EPUB_MAX_BYTES", "1000")
    monkeypatch.setenv("NARRATE_EPUB_DOCUMENT_MAX_BYTES", "200")
    monkeypatch.setenv("NARRATE_COVER_MAX_BYTES", "300")
    assert EpubLimits.from_settings(Settings()) == EpubLimits(book_bytes=1000, document_bytes=200, cover_bytes=300)
    assert EpubLimits.from_settings(Settings.model_construct()).book_bytes > 0
