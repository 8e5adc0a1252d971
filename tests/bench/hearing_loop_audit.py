"""Which take each stored file is, told by the emulator rather than by the workers.

The emulator logs every TTS answer with its audio's sha256 and the fault it put in the take (drop, repeat, garble,
cut, or none). Hashing a stored file finds the answer it is: a chunk's chosen take (`chunks/<hash>.wav`, what the
chapter files are assembled from) and every take kept beside it (`chunks/<hash>/take-<n>.wav`, whose verdict is
in `chunks/<hash>/takes.json`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field

import boto3
import httpx

from worker.books.plan import BookPlan
from worker.takes.record import ChunkTakes

KINDS = ("drop", "repeat", "garble", "cut")


class Answers:
    """The emulator's successful TTS answers, by their audio's sha256."""

    def __init__(self, emulator_url: str) -> None:
        log = httpx.get(f"{emulator_url}/_emulator/requests", timeout=30).json()
        self._by_audio = {r["audio_sha256"]: r for r in log if r["kind"] == "tts" and r["status"] == 200}

    def of(self, audio: bytes) -> dict:
        sha = hashlib.sha256(audio).hexdigest()
        if sha not in self._by_audio:
            raise RuntimeError(f"stored audio {sha[:12]} is no answer the emulator gave (or its log dropped it)")
        return self._by_audio[sha]


def heard_wrong(answer: dict) -> bool:
    """A fault a listener hears: a sentence missing, a phrase repeated, the end cut off, or a name garbled
    (capitalized nonsense). One common word garbled into syllables is the known limit: it reads as a recognizer's
    slip."""
    return answer["fault"] in ("drop", "repeat", "cut") or (
        answer["fault"] == "garble" and answer["fault_detail"][:1].isupper()
    )


@dataclass
class Chosen:
    """What the chapter files were assembled from: chunks whose chosen take is faulted, by how it shows."""

    chunks: int = 0
    heard_wrong: list[dict] = field(default_factory=list)  # the emulator's answers
    word_garbled: list[dict] = field(default_factory=list)  # a common word garbled: the limit stated above


def chosen_takes(bucket: str, chunk_keys: list[str], answers: Answers) -> Chosen:
    s3, out = boto3.client("s3"), Chosen()
    for key in chunk_keys:
        answer = answers.of(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        out.chunks += 1
        if heard_wrong(answer):
            out.heard_wrong.append(answer)
        elif answer["fault"] == "garble":
            out.word_garbled.append(answer)
    return out


@dataclass
class Verdicts:
    """Every take heard, by its true fault: how many, and how many the verdict failed."""

    takes: Counter[str] = field(default_factory=Counter)  # by fault ("clean" for none)
    failed: Counter[str] = field(default_factory=Counter)
    unheard: int = 0  # too short to hear (under a second): no verdict, counted as passed
    missed: list[dict] = field(default_factory=list)  # faulted takes that passed: the emulator's answer, the verdict
    wrongly_failed: list[dict] = field(default_factory=list)  # clean takes that failed: the answer, the verdict

    def add(self, other: Verdicts) -> None:
        self.takes.update(other.takes)
        self.failed.update(other.failed)
        self.unheard += other.unheard
        self.wrongly_failed += other.wrongly_failed
        self.missed += other.missed

    @property
    def faulted(self) -> int:
        return sum(self.takes[kind] for kind in KINDS)

    def caught_percent(self, kind: str | None = None) -> float:
        kinds = KINDS if kind is None else (kind,)
        total = sum(self.takes[k] for k in kinds)
        return 100 * sum(self.failed[k] for k in kinds) / total if total else float("nan")

    def clean_failed_percent(self) -> float:
        return 100 * self.failed["clean"] / self.takes["clean"] if self.takes["clean"] else float("nan")


def verdicts(bucket: str, answers: Answers) -> Verdicts:
    """Every take recorded in `bucket`'s takes records, joined with the emulator's answer it is."""
    s3, out = boto3.client("s3"), Verdicts()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="chunks/"):
        for item in page.get("Contents", []):
            if not item["Key"].endswith("/takes.json"):
                continue
            record = ChunkTakes.model_validate_json(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            for take in record.takes:
                answer = answers.of(s3.get_object(Bucket=bucket, Key=take.key)["Body"].read())
                fault = answer["fault"] or "clean"
                verdict = take.judged()
                out.takes[fault] += 1
                out.unheard += verdict is None
                out.failed[fault] += verdict is not None and not verdict.passed
                told = {**answer, "heard": (take.heard or {}).get("text", ""), "verdict": take.verdict}
                if answer["fault"] and (verdict is None or verdict.passed):
                    out.missed.append(told)
                elif not answer["fault"] and verdict is not None and not verdict.passed:
                    out.wrongly_failed.append(told)
    return out


def chunk_keys_of(plan: BookPlan) -> list[str]:
    """The content addresses a book's chapters are assembled from."""
    return [chunk.key for chapter in plan.chapters for chunk in chapter.chunks]
