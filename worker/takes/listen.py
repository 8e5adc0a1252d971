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
        try:
            answer = ctx.fish.transcribe(audio, language=recognizer_language(listening.language), audio_seconds=seconds)
        except CannotHear as exc:
            if not _too_short_for(text, seconds, listening.limits):
                # A short text's take (a word or two, under a second): nothing to hear, nothing paid, no retake.
                metrics.TAKES_HEARD.labels(verdict="unheard").inc()
                return entry.model_copy(update={"unheard": str(exc)})
            # Too short for its text: judged as heard silent (a cut take), and retaken like one.
            heard = {"text": "", "duration": seconds, "segments": [], "seconds_billed": 0, "latency_seconds": 0.0}
        else:
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


def _too_short_for(text: str, seconds: float, limits: Thresholds) -> bool:
    """A take shorter than its text could be said at the fastest pace the judge allows."""
    letters = sum(ch.isalnum() for ch in text)
    return seconds < letters * limits.seconds_per_letter[0]


def hold_heard(entry: TakeEntry, *, ctx: RenderContext, bucket: str) -> None:
    """Keep a paid transcript in Redis while its record cannot be stored."""
    if ctx.held is not None and entry.heard is not None:
        ctx.held.put_heard(keys.s3_url(bucket, entry.key), entry.heard)


def drop_held_heard(entries: list[TakeEntry], *, ctx: RenderContext, bucket: str) -> None:
    if ctx.held is not None:
        for entry in entries:
            ctx.held.drop_heard(keys.s3_url(bucket, entry.key))
