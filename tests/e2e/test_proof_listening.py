"""Proof-listening through real workers and the emulator: a book whose takes drop, repeat, garble and cut comes out
with only clean takes in its chapter files, each retake billed and reported; a re-submitted book pays for nothing
and hears nothing again.

Which take a stored chunk is, is told by the emulator's record of every answer it gave (its audio's sha256 and
its fault), not by anything the workers say.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from tests.e2e.conftest import load, wait_book
from tests.support.epubs import write_epub
from worker import keys
from worker.settings import Settings, get_settings

pytestmark = pytest.mark.e2e

CHAPTERS = [
    (
        "The Quay",
        [
            'The lamps were lit along the quay. "Stay close," said Marguerite Duval. The boat left at nine.',
            "Nobody on the pier had seen the captain since the morning, and the harbour master was worried.",
            'The gulls had gone quiet. "Where is Ansel?" asked the cook, wiping her hands on her apron.',
            "A lantern swung in the rigging of the schooner, throwing long shadows over the wet planks.",
        ],
    ),
    (
        "The Crossing",
        [
            "They crossed the bay in silence. The water was black and still, and the stars were very bright.",
            'Halfway over, Marguerite pointed north. "There," she whispered. "The lighthouse on Saint Brendan."',
            "By midnight the island rose out of the dark, its cliffs pale in the light of the rising moon.",
        ],
    ),
]


@pytest.fixture
def heard_book(book_worker, book_env, emulator, monkeypatch):  # noqa: ANN001, ANN201
    """A real worker (the class's), the emulator speaking words (not tones) and faulting 5 % of takes of each kind."""
    emulator.control(tone_mode=False, fault_drop=0.05, fault_repeat=0.05, fault_garble=0.05, fault_cut=0.05)
    monkeypatch.setenv("NARRATE_QC", "retake")
    get_settings.cache_clear()


def submit(bucket: str, voice, tmp_path, name: str = "heard"):  # noqa: ANN001, ANN201
    path = write_epub(tmp_path / f"{name}.epub", title="The Quay", author="A. Writer", chapters=CHAPTERS, cover=False)
    plan, _ = BookSubmitter.from_settings(Settings()).submit(read_book(str(path)), voice=voice, out=f"s3://{bucket}/q")
    return plan


class TestOnOneWorker:
    """Both books are rendered by one worker, started once for the class; each test has Redis flushed and a bucket
    of its own."""

    def test_a_book_with_faulted_takes_keeps_only_clean_takes(
        self, heard_book, bucket, emulator, voice, tmp_path
    ) -> None:
        plan = submit(bucket, voice, tmp_path)
        assert plan.qc.mode == "retake" and plan.qc.retakes == 2
        wait_book(plan.book_id, timeout=180)
        answers = [r for r in emulator.requests() if r["kind"] == "tts" and r["status"] == 200]
        by_audio = {r["audio_sha256"]: r for r in answers}
        assert any(r["fault"] for r in answers), "the emulator faulted some takes (else this test proves nothing)"
        chunks = [chunk for chapter in plan.chapters for chunk in chapter.chunks]
        chosen = [by_audio[hashlib.sha256(load(bucket, chunk.key)).hexdigest()] for chunk in chunks]
        kept = [(r["fault"], r["fault_detail"]) for r in chosen if r["fault"]]
        assert kept == [], "every chunk the chapters were made of is a clean take"
        faulted = [r for r in answers if r["fault"] and r not in chosen]

        manifest = json.loads(load(bucket, keys.book_manifest(plan.output.prefix, plan.book_id)))
        qc = manifest["qc"]
        assert qc["mode"] == "retake" and qc["left_failing"] == 0 and qc["chunks_heard"] == len(chunks)
        assert qc["retakes"] == len(answers) - len(chunks) == len(faulted), "one retake per faulted take, each billed"
        assert qc["retakes"] >= 1
        assert manifest["bytes_billed"] == sum(len(r["text"].encode()) for r in answers)
        asr = [r for r in emulator.requests() if r["kind"] == "asr"]
        assert len(asr) == len(answers), "every take heard once"
        assert qc["asr_seconds_billed"] == sum(r["seconds_billed"] for r in asr), "what hearing cost, in the manifest"
        assert qc["retake_bytes_billed"] == sum(len(r["text"].encode()) for r in faulted)

    def test_a_book_submitted_again_pays_for_nothing_and_hears_nothing(
        self, heard_book, bucket, emulator, voice, tmp_path
    ) -> None:
        wait_book(submit(bucket, voice, tmp_path, "first").book_id, timeout=180)
        before = len(emulator.requests())
        again = submit(bucket, voice, tmp_path, "again")
        wait_book(again.book_id, timeout=120)
        assert len(emulator.requests()) == before, "settled takes are reused, never rendered or heard again"
        manifest = json.loads(load(bucket, keys.book_manifest(again.output.prefix, again.book_id)))
        assert manifest["qc"]["left_failing"] == 0 and manifest["chunks"]["reused"] == manifest["chunks"]["total"]
