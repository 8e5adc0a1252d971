"""The bundled sample: a public-domain fable (Aesop, "The North Wind and the Sun") in three parts."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def sample_parts() -> list[Path]:
    folder = Path(str(files(__name__)))
    return sorted(folder.glob("0*.txt"))


def reference_transcript() -> str:
    return (Path(str(files(__name__))) / "reference-transcript.txt").read_text(encoding="utf-8").strip()
