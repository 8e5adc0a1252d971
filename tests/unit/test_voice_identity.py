"""A voice is what its clips are: the documented reference hash, its test vector, the worker's refusal of a borrowed
one."""

from __future__ import annotations

import hashlib
import sys

import pytest

from tests.support.voice_identity import documented_vector, documented_whitespace, hash_as_documented
from worker.contract import Clip, ClipVoice, normalize_transcript, reference_hash
from worker.errors import BadInput
from worker.voices.clips import check_voice_identity


def test_the_documented_vector_is_what_the_code_computes() -> None:
    vector = documented_vector()
    clips = [(c["sha256"], c["transcript"]) for c in vector["clips"]]
    assert [c["sha256"] for c in vector["clips"]] == [hashlib.sha256(b).hexdigest() for b in (b"clip one", b"clip two")]
    for documented in vector["clips"]:
        assert normalize_transcript(documented["transcript"]) == documented["normalized"]
    assert reference_hash(clips) == vector["reference_hash"] == hash_as_documented(clips)
    assert reference_hash(clips[:1]) == vector["first_clip_alone"] == hash_as_documented(clips[:1])


def test_the_documented_whitespace_is_what_normalization_splits_on() -> None:
    assert documented_whitespace() == {c for c in range(sys.maxunicode + 1) if chr(c).isspace()}


def test_the_identity_covers_order_transcripts_and_clips() -> None:
    one, two = "1" * 64, "2" * 64
    base = reference_hash([(one, "Hello,  world."), (two, "Again.")])
    assert base == reference_hash([(one, " Hello, world. "), (two, "Again.\n")])
    assert base != reference_hash([(two, "Again."), (one, "Hello, world.")])
    assert base != reference_hash([(one, "Hello world."), (two, "Again.")])
    assert base != reference_hash([(one, "Hello, world."), ("3" * 64, "Again.")])


@pytest.mark.parametrize("digest", ["A" * 64, "a" * 63, "a" * 64 + "\n", b"clip"])
def test_only_a_lowercase_hex_sha256_is_taken_for_a_clip(digest: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        reference_hash([(digest, "Hello.")])  # type: ignore[list-item]


def clip(sha256: str, transcript: str = "The words of the clip.") -> Clip:
    return Clip(key=f"refs/{sha256}.wav", sha256=sha256, size=100, transcript=transcript)


def test_the_worker_accepts_the_identity_its_clips_give() -> None:
    clips = [clip("a" * 64), clip("b" * 64, "Other words.")]
    identity = reference_hash([(c.sha256, c.transcript) for c in clips])
    check_voice_identity(ClipVoice(reference_hash=identity, clips=clips))


def test_the_worker_refuses_another_voices_identity_with_any_clip() -> None:
    victim = reference_hash([("a" * 64, "The victim's words.")])
    with pytest.raises(BadInput) as refused:
        check_voice_identity(ClipVoice(reference_hash=victim, clips=[clip("c" * 64)]))
    expected = reference_hash([("c" * 64, "The words of the clip.")])
    assert victim in str(refused.value) and expected in str(refused.value)
    assert "docs/voice-identity.md" in str(refused.value)


def test_the_worker_refuses_the_right_clip_under_another_transcript() -> None:
    stated = reference_hash([("a" * 64, "The words of the clip.")])
    with pytest.raises(BadInput):
        check_voice_identity(ClipVoice(reference_hash=stated, clips=[clip("a" * 64, "Different words.")]))
