"""Split text into Fish requests at paragraph, then sentence, then clause boundaries.

Long requests truncate and time out, so a job's text is cut into chunks of at
most `max_bytes` UTF-8 bytes. Deterministic: the same text and budget always
give the same chunks, which keeps content-addressed chunk audio reusable.
"""

from __future__ import annotations

import re

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?…。！？])[\"'”’)\]]*\s+")
_CLAUSE_END = re.compile(r"(?<=[,;:—–，；：])\s+")


def split_text(text: str, *, max_bytes: int) -> list[str]:
    """Chunks of at most `max_bytes` UTF-8 bytes, each non-empty and stripped.

    Paragraphs and sentences are packed greedily; a sentence over the budget is
    split at clauses, and a clause over the budget at spaces (never mid-word,
    unless a single word is itself over the budget).
    """
    if max_bytes < 16:
        raise ValueError("max_bytes must be at least 16")
    pieces: list[tuple[str, str]] = []  # (piece, joiner placed before it)
    for paragraph in _PARAGRAPH.split(text.strip()):
        paragraph = " ".join(paragraph.split())
        if not paragraph:
            continue
        for index, piece in enumerate(_fit(paragraph, max_bytes, level=0)):
            pieces.append((piece, " " if index else "\n\n"))
    return _pack(pieces, max_bytes)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _fit(text: str, max_bytes: int, *, level: int) -> list[str]:
    """Break `text` into pieces each within budget, using finer boundaries only where needed."""
    if _size(text) <= max_bytes:
        return [text]
    if level == 0:
        parts = _SENTENCE_END.split(text)
    elif level == 1:
        parts = _CLAUSE_END.split(text)
    elif level == 2:
        parts = text.split(" ")
    else:
        return _cut_word(text, max_bytes)
    if len(parts) == 1:
        return _fit(text, max_bytes, level=level + 1)
    fitted = [piece for part in parts if part for piece in _fit(part, max_bytes, level=level + 1)]
    return _pack([(piece, " ") for piece in fitted], max_bytes)


def _cut_word(word: str, max_bytes: int) -> list[str]:
    out: list[str] = []
    current = ""
    for char in word:
        if _size(current + char) > max_bytes:
            out.append(current)
            current = ""
        current += char
    return out + ([current] if current else [])


def _pack(pieces: list[tuple[str, str]], max_bytes: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    for piece, joiner in pieces:
        candidate = f"{current}{joiner}{piece}" if current else piece
        if _size(candidate) <= max_bytes:
            current = candidate
        else:
            chunks.append(current)
            current = piece
    if current:
        chunks.append(current)
    return [chunk.strip() for chunk in chunks if chunk.strip()]
