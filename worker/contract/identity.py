"""A voice reference's identity: the one formula producers and workers share (docs/voice-identity.md)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable

HEX64 = r"^[0-9a-f]{64}$"  # a sha256 in lowercase hex


def normalize_transcript(text: str) -> str:
    """NFC, whitespace collapsed: the same words typed twice give one reference identity."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def reference_hash(clips: Iterable[tuple[str, str]]) -> str:
    """Identity of a voice reference from each clip's (sha256 hex of its bytes, transcript), in order.

    The one formula producers and workers share (docs/voice-identity.md): the worker recomputes it
    from the clips it fetched, so a message cannot borrow another voice's identity.
    """
    digest = hashlib.sha256(b"narrate-reference-v1\n")
    for sha256, transcript in clips:
        if not re.fullmatch(HEX64, sha256):
            raise ValueError(f"{sha256!r} is not the lowercase hex sha256 of a clip's bytes")
        digest.update(sha256.encode("ascii"))
        digest.update(b"\n")
        digest.update(normalize_transcript(transcript).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()
