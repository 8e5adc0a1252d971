"""`narrate dev BOOK`'s chapter table stays readable at 80 columns, whatever the titles."""

from __future__ import annotations

import io

from rich.console import Console

from producer.dev.books import _chapters_table


def chapter(index: int, title: str, *, passed: bool) -> dict:
    checks = {"rms": {"pass": passed}, "peak": {"pass": True}, "noise_floor": {"pass": passed}}
    loudness = {"rms_db": -23.4, "peak_db": -3.5, "noise_floor_db": -27.4, "checks": checks, "pass": passed}
    return {"index": index, "title": title, "start_seconds": 1394.7 * index, "chunks": 36, "loudness": loudness}


def test_chapter_table_fits_80_columns() -> None:
    manifest = {
        "title": "Quick Start Guide",
        "chapters": [
            chapter(0, "Calibre Quick Start Guide", passed=True),
            chapter(1, "The Main Library Window, aka the GUI, and everything in it [part 1]", passed=False),
        ],
    }
    buffer = io.StringIO()
    Console(file=buffer, width=80, markup=False).print(_chapters_table(manifest, width=80))
    lines = buffer.getvalue().splitlines()
    assert max(map(len, lines)) <= 80
    rows = [line for line in lines if line.lstrip()[:1].isdigit()]
    assert len(rows) == 2, "one line per chapter, nothing folded"
    assert "fail: rms floor" in rows[1] and "23:14" in rows[1] and "pass" in rows[0]
