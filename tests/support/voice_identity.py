"""The reference hash as a producer in another language computes it: from docs/voice-identity.md, with hashlib only.

Tests that build job messages by hand use it, so the page, not the Python code, is what they check against.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

PAGE = Path(__file__).resolve().parents[2] / "docs" / "voice-identity.md"


def documented_vector() -> dict[str, Any]:
    [block] = re.findall(r"```json\n(.*?)```", PAGE.read_text(), flags=re.S)
    return json.loads(block)


def documented_whitespace() -> set[int]:
    """The code points the page lists as whitespace (single ones and ranges)."""
    [sentence] = re.findall(r"Whitespace is exactly\s+these code points: (.*?)\.\n", PAGE.read_text(), flags=re.S)
    points: set[int] = set()
    for item in re.split(r",\s*", sentence):
        first, _, last = item.partition("–")
        points |= set(range(int(first.removeprefix("U+"), 16), int((last or first).removeprefix("U+"), 16) + 1))
    return points


def hash_as_documented(clips: list[tuple[str, str]]) -> str:
    """(sha256 hex, transcript) per clip, in order → the voice's reference hash."""
    whitespace = {chr(c) for c in documented_whitespace()}
    data = bytearray(b"narrate-reference-v1\n")
    for sha256, transcript in clips:
        text = "".join(" " if c in whitespace else c for c in unicodedata.normalize("NFC", transcript))
        data += sha256.encode("ascii") + b"\n" + " ".join(w for w in text.split(" ") if w).encode("utf-8") + b"\n"
    return hashlib.sha256(bytes(data)).hexdigest()


def message_voice(clips: list[dict[str, Any]]) -> dict[str, Any]:
    """A job message's `voice` for clips given as the schema's JSON: the hash computed from them."""
    identity = hash_as_documented([(c["sha256"], c["transcript"]) for c in clips])
    return {"mode": "clips", "reference_hash": identity, "clips": clips}
