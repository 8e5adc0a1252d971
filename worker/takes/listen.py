"""Hearing one take: Fish's speech-to-text of its audio, judged against the text the voice was given.

A transcript Fish was paid for is never paid again: it is written into the chunk's takes record, and while S3
cannot take that record it waits in Redis (worker.renders.held) for the retry, on any worker.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker import keys
from worker.audio import codec
from worker.contract import QualityCheck
from worker.errors import CannotHear
from worker.fish.heard import MIN_SECONDS
from worker.hearing import DEFAULTS, Thresholds, Transcript, judge
from worker.observability import metrics
from worker.takes.record import TakeEntry
from worker.text.lexicon import Lexicon
from worker.voices.speaker import RenderContext


@dataclass(frozen=True)
class Listening:
    """How a chunk's takes are judged: the mode, the text's language, the lexicon's replacements, the limits."""

    qc: QualityCheck
    language: str = ""
    lexicon: tuple[tuple[str, str], ...] = ()  # (the word, what the voice was given instead)
    limits: Thresholds = DEFAULTS

    @property
    def on(self) -> bool:
        return self.qc.mode != "off"

    @property
    def retakes(self) -> int:
        """How many takes may be rendered again after the first."""
        return self.qc.retakes if self.qc.mode == "retake" else 0


def replacements(lexicon: Lexicon, words: list[str]) -> tuple[tuple[str, str], ...]:
    """The lexicon's (word, replacement) pairs for the entries a chunk's text used (patterns say no one thing)."""
    used = set(words)
    return tuple((entry.word, entry.say) for entry in lexicon.entries if entry.word in used and not entry.regex)


def recognizer_language(language: str) -> str | None:
    """Fish's speech-to-text takes a bare language code ("en", "zh"); a region ("en-GB") is left out."""
    code = language.replace("_", "-").split("-")[0].lower()
    return code or None


def hear(
    entry: TakeEntry, audio: bytes, *, text: str, listening: Listening, ctx: RenderContext, bucket: str
) -> TakeEntry:
    """The entry with what was heard in `audio` and the verdict; `unheard` says why when Fish cannot hear it."""
    take_url = keys.s3_url(bucket, entry.key)
    heard = ctx.held.get_heard(take_url) if ctx.held is not None else None
    if heard is None:
        seconds = codec.probe(audio).duration_seconds
        if seconds < MIN_SECONDS:  # Fish hears a second at least: a short take is heard with silence after it
            audio = codec.padded_wav(audio, at_least_seconds=MIN_SECONDS + 0.05)
            seconds = codec.probe(audio).duration_seconds
        try:
            answer = ctx.fish.transcribe(audio, language=recognizer_language(listening.language), audio_seconds=seconds)
        except CannotHear as exc:  # over an hour or 20 MB: no chunk is, but nothing is paid for what cannot be heard
            metrics.TAKES_HEARD.labels(verdict="unheard").inc()
            return entry.model_copy(update={"unheard": str(exc)})
        heard = answer.to_json()
    verdict = judge(
        text,
        Transcript.from_json(heard),
        language=listening.language,
        lexicon=listening.lexicon,
        limits=listening.limits,
    )
    metrics.TAKES_HEARD.labels(verdict="pass" if verdict.passed else "fail").inc()
    return entry.model_copy(update={"heard": heard, "verdict": verdict.to_json()})


def hold_heard(entry: TakeEntry, *, ctx: RenderContext, bucket: str) -> None:
    """Keep a paid transcript in Redis while its record cannot be stored."""
    if ctx.held is not None and entry.heard is not None:
        ctx.held.put_heard(keys.s3_url(bucket, entry.key), entry.heard)


def drop_held_heard(entries: list[TakeEntry], *, ctx: RenderContext, bucket: str) -> None:
    if ctx.held is not None:
        for entry in entries:
            ctx.held.drop_heard(keys.s3_url(bucket, entry.key))
