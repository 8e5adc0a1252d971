"""The words a take says, written into its audio: small frames in the least significant bit of 16-bit samples.

The emulator's speech engine and its hearing must agree, so every word the emulator speaks leaves a frame at its
place in time, and /v1/asr hears the frames it finds, nothing else. A frame is, bit by bit in consecutive
samples' LSBs: a 32-bit sync pattern, the word's UTF-8 length (8 bits), its bytes, and a CRC-16 over length and
bytes, so that natural audio (or audio whose LSBs were disturbed) never reads as a word. Changing an LSB moves a
sample by one step in 65,536: inaudible, and loudness and pitch measurements stay the same. A lossy codec (mp3,
opus) or a resampler rewrites the LSBs: such audio carries no words.
"""

from __future__ import annotations

import binascii
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SYNC = 0xB5E2_6C1D  # neither all zeros (digital silence) nor a run a sine's LSBs are likely to form
SYNC_BITS = 32
MAX_WORD_BYTES = 255  # the length field is one byte; longer words are cut there
_BLOCK = 1 << 20  # samples scanned at once


@dataclass(frozen=True)
class HeardWord:
    """A word found in the audio: its text and the sample its frame starts at."""

    text: str
    sample: int


def _word_bytes(word: str) -> bytes:
    return word.encode("utf-8")[:MAX_WORD_BYTES].decode("utf-8", errors="ignore").encode("utf-8")


def frame_bits(word: str) -> np.ndarray:
    """The bits (0/1, uint8) of one word's frame, in the order they are written."""
    data = _word_bytes(word)
    body = bytes([len(data)]) + data
    payload = SYNC.to_bytes(4, "big") + body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")
    return np.unpackbits(np.frombuffer(payload, dtype=np.uint8))


def frame_samples(word: str) -> int:
    """How many samples the frame of `word` takes: 56 plus 8 per UTF-8 byte."""
    return len(frame_bits(word))


def write_words(pcm: bytes, words: Sequence[tuple[str, int]]) -> bytes:
    """Mono s16le `pcm` with a frame for each (word, sample) written where it is said.

    A frame starts at its sample or right after the previous frame, whichever is later; a frame that would not
    fit before the end of the audio is left out, with every word after it (the audio ends before them).
    """
    samples = np.frombuffer(pcm, dtype="<i2").copy()
    free = 0
    for word, at in words:
        bits = frame_bits(word)
        start = max(int(at), free)
        if start + len(bits) > len(samples):
            break
        span = samples[start : start + len(bits)]
        samples[start : start + len(bits)] = (span & ~np.int16(1)) | bits.astype(np.int16)
        free = start + len(bits)
    return samples.astype("<i2").tobytes()


def _sync_positions(bits: np.ndarray) -> np.ndarray:
    """Every index where the 32 bits from there on spell SYNC, found a block at a time (memory stays flat)."""
    found = [
        first + _sync_in(bits[first : first + _BLOCK + SYNC_BITS - 1])
        for first in range(0, max(0, len(bits) - SYNC_BITS + 1), _BLOCK)
    ]
    return np.concatenate(found) if found else np.zeros(0, dtype=np.int64)


def _sync_in(bits: np.ndarray) -> np.ndarray:
    count = len(bits) - SYNC_BITS + 1
    octets = np.zeros(len(bits) - 7, dtype=np.uint32)  # the byte starting at each bit
    for k in range(8):
        octets |= bits[k : k + len(octets)].astype(np.uint32) << np.uint32(7 - k)
    value = np.zeros(count, dtype=np.uint32)
    for k in range(4):
        value |= octets[8 * k : 8 * k + count] << np.uint32(24 - 8 * k)
    return np.flatnonzero(value == SYNC)


def read_words(samples: np.ndarray) -> list[HeardWord]:
    """The words whose frames are intact in mono 16-bit `samples`, in order."""
    bits = (samples.astype(np.int64) & 1).astype(np.uint8)
    words: list[HeardWord] = []
    after = 0  # a sync pattern inside an accepted frame's bytes is not a frame
    for position in _sync_positions(bits):
        start = int(position) + SYNC_BITS
        if position < after or start + 8 > len(bits):
            continue
        length = int(np.packbits(bits[start : start + 8])[0])
        end = start + 8 * (1 + length) + 16
        if end > len(bits):
            continue
        body = np.packbits(bits[start : end - 16]).tobytes()
        crc = int.from_bytes(np.packbits(bits[end - 16 : end]).tobytes(), "big")
        if binascii.crc_hqx(body, 0xFFFF) != crc:
            continue
        text = body[1:].decode("utf-8", errors="replace")
        words.append(HeardWord(text=text, sample=int(position)))
        after = end
    return words
