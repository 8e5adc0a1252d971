"""Batch files written in the tests: a folder holding books and a reference clip, and JSON Lines or YAML beside it."""

from __future__ import annotations

import json
from pathlib import Path


def batch_folder(root: Path) -> Path:
    """`root` with two books, a reference clip and its transcript, as a batch file's entries name them."""
    (root / "books").mkdir()
    (root / "books" / "one.epub").write_bytes(b"epub")
    (root / "two.md").write_text("# Two\n\nText.\n", encoding="utf-8")
    (root / "clips").mkdir()
    (root / "clips" / "narrator.wav").write_bytes(b"RIFF")
    (root / "clips" / "narrator.txt").write_text("Exact words.", encoding="utf-8")
    return root


def write_jsonl(folder: Path, *lines: object, name: str = "books.jsonl") -> str:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def write_yaml(folder: Path, text: str, name: str = "books.yaml") -> str:
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)
