"""The Fish Audio API through the official SDK: TTS, speech to text, credit (voice models: worker.fish.voices).

The SDK never retries and hides response headers; this module only maps its
errors onto ours (Transient vs Permanent) and times each request. Retrying is
the task layer's job.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
from fishaudio import FishAudio
from fishaudio.exceptions import APIError, FishAudioError
from fishaudio.types import ReferenceAudio, TTSConfig

from worker.contract import Synthesis
from worker.errors import FishRejected, FishUnavailable, PermanentError, VoiceNotFound
from worker.fish.breaker import BreakerOpen, CreditBreaker
from worker.fish.heard import Heard, check_hearable, in_seconds, seconds_billed
from worker.fish.limiter import FishLimiter
from worker.observability import metrics
from worker.settings import Settings

FISH_CLOUD = "https://api.fish.audio"

_PERMANENT_HINTS = {
    401: "the Fish API rejected the API key (401): check FISH_API_KEY",
    402: "the Fish account has insufficient API credit (402): top up, then retry the job",
    403: "the Fish API key is not permitted to do this (403): check the key's scope",
}


@dataclass(frozen=True)
class Speech:
    audio: bytes
    latency_seconds: float
    reference_bytes_sent: int
    reference_id: str | None = None  # set when only a Fish voice id was sent


class FishClient:
    """One per worker process: it holds the SDK client and its HTTP connection pool."""

    def __init__(
        self, settings: Settings, *, limiter: FishLimiter | None = None, breaker: CreditBreaker | None = None
    ) -> None:
        if settings.fish_api_key is None and settings.fish_base_url.rstrip("/") == FISH_CLOUD:
            raise PermanentError(
                "FISH_API_KEY is not set: set it to render with the Fish Audio cloud,"
                " or point NARRATE_FISH_BASE_URL at an emulator"
            )
        self._key = settings.fish_key()
        self._model = settings.fish_model
        self._price = settings.price_per_million_bytes
        self._asr_price = settings.asr_price_per_hour
        self._limiter = limiter
        self._breaker = breaker
        # Per thread: a slot one thread holds must not let another thread's request in with it.
        self._holding = threading.local()
        self._sdk = FishAudio(
            api_key=self._key,
            base_url=settings.fish_base_url,
            timeout=settings.fish_timeout_seconds,
        )

    @property
    def model(self) -> str:
        return self._model

    def synthesize(
        self,
        *,
        text: str,
        fmt: str,
        references: list[tuple[bytes, str]] | None = None,
        reference_id: str | None = None,
        synthesis: Synthesis = Synthesis(),
    ) -> Speech:
        """One TTS request; with `reference_id` only the id is sent, else the clips; unset settings are the API's."""
        inline = [] if reference_id else [ReferenceAudio(audio=a, text=t) for a, t in references or []]
        mode = "reference_id" if reference_id else "one_shot"
        with self.slot():
            started = time.perf_counter()
            try:
                audio = self._sdk.tts.convert(
                    text=text,
                    format=fmt,  # type: ignore[arg-type]
                    reference_id=reference_id,
                    references=inline,
                    model=self._model,  # type: ignore[arg-type]
                    latency=synthesis.latency,
                    speed=synthesis.speed,
                    config=_config(synthesis),
                )
            except (APIError, FishAudioError, httpx.HTTPError) as exc:
                mapped = self._mapped(exc, reference_id=reference_id)
                metrics.request_outcome(voice_mode=mode, outcome=_outcome(mapped))
                raise self._paused_on_402(mapped) from None
        if not audio:
            metrics.request_outcome(voice_mode=mode, outcome="server_error")
            raise FishUnavailable("the Fish API answered 200 with no audio; will retry")
        speech = Speech(
            audio=audio,
            latency_seconds=time.perf_counter() - started,
            reference_bytes_sent=sum(len(ref.audio) for ref in inline),
            reference_id=reference_id,
        )
        metrics.request_outcome(
            voice_mode=mode,
            outcome="ok",
            seconds=speech.latency_seconds,
            text_bytes=len(text.encode()),
            reference_bytes=speech.reference_bytes_sent,
            price_per_million=self._price,
        )
        return speech

    def transcribe(self, audio: bytes, *, language: str | None, audio_seconds: float) -> Heard:
        """Fish's speech-to-text of one take: its words in order, with times in seconds inside the audio.

        `audio_seconds` is the take's length as the caller measured it: Fish bills it per second, and the answer's
        times are read against it. `language` None lets Fish detect it. Audio Fish does not take (under 1 s, over
        60 min or 20 MB) raises CannotHear before any request.
        """
        check_hearable(audio, audio_seconds=audio_seconds)
        chosen = {"language": language} if language else {}
        with self.slot():
            started = time.perf_counter()
            try:
                answer = self._sdk.asr.transcribe(audio=audio, include_timestamps=True, **chosen)
            except (APIError, FishAudioError, httpx.HTTPError) as exc:
                mapped = self._mapped(exc, reference_id=None)
                metrics.asr_outcome(outcome=_outcome(mapped))
                raise self._paused_on_402(mapped) from None
            except ValueError:  # a 200 whose body is not Fish's answer (pydantic's and json's errors are ValueErrors)
                metrics.asr_outcome(outcome="server_error")
                raise FishUnavailable(
                    "the Fish API answered speech-to-text with a body it cannot read; will retry"
                ) from None
            latency = time.perf_counter() - started
        heard = Heard(
            text=answer.text.strip(),
            words=in_seconds(((s.text, s.start, s.end) for s in answer.segments), audio_seconds=audio_seconds),
            audio_seconds=audio_seconds,
            seconds_billed=seconds_billed(audio_seconds),
            latency_seconds=latency,
        )
        metrics.asr_outcome(outcome="ok", seconds_billed=heard.seconds_billed, price_per_hour=self._asr_price)
        return heard

    @contextlib.contextmanager
    def slot(self) -> Iterator[None]:
        """Room for Fish requests: the breaker is closed and a cluster slot is held for the body.

        Requests made inside do not take a second slot.
        """
        if getattr(self._holding, "slot", False):
            yield
            return
        if self._breaker is not None:
            self._breaker.check()
        with self._limiter.slot() if self._limiter is not None else contextlib.nullcontext():
            self._holding.slot = True
            try:
                yield
            finally:
                self._holding.slot = False

    def credit(self) -> float:
        """The account's API credit (used to close the breaker once the account is topped up)."""
        try:
            return float(self._sdk.account.get_credits().credit)
        except (APIError, FishAudioError, httpx.HTTPError) as exc:
            raise self._mapped(exc, reference_id=None) from None

    def close(self) -> None:
        self._sdk.close()

    def _paused_on_402(self, mapped: Exception) -> Exception:
        """What to raise for a mapped error: a 402 opens the breaker, and the work waits for credit instead."""
        if isinstance(mapped, FishRejected) and mapped.status == 402 and self._breaker is not None:
            self._breaker.open(reason=str(mapped))
            return BreakerOpen(f"waiting: {mapped}; Fish calls are paused until `narrate resume`")
        return mapped

    def _mapped(self, exc: Exception, *, reference_id: str | None) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            return FishUnavailable("the Fish API timed out; will retry", cause="timeout")
        if isinstance(exc, httpx.HTTPError):
            return FishUnavailable(f"cannot reach the Fish API ({exc.__class__.__name__}); will retry")
        if not isinstance(exc, APIError):
            return FishRejected(self._clean(f"the Fish SDK refused the request: {exc}"), status=0)
        status, detail = exc.status, self._clean(str(exc.message))[:300]
        if status in (408, 429) or status >= 500:
            cause = "rate_limited" if status == 429 else "timeout" if status == 408 else "server_error"
            return FishUnavailable(f"the Fish API is busy or failing ({status}: {detail}); will retry", cause=cause)
        if reference_id and (status == 404 or (status == 400 and "reference" in detail.lower())):
            return VoiceNotFound(f"the Fish voice {reference_id} was not found ({status}: {detail})", status=status)
        hint = _PERMANENT_HINTS.get(status, f"the Fish API rejected the request ({status})")
        return FishRejected(f"{hint}: {detail}", status=status)

    def _clean(self, message: str) -> str:
        # The key must never reach a log, a record or a manifest, even if echoed back.
        return message.replace(self._key, "[redacted]") if self._key else message


def _outcome(error: Exception) -> str:
    if isinstance(error, FishUnavailable):
        return error.cause
    status = getattr(error, "status", 0)
    return "no_credit" if status == 402 else f"rejected_{status}" if status in (400, 401, 403, 404, 422) else "rejected"


def _config(synthesis: Synthesis) -> TTSConfig:
    """The SDK's request settings: its defaults, with what the job sets (latency and speed go as arguments)."""
    chosen = synthesis.model_dump(include={"sample_rate", "temperature", "top_p", "normalize"}, exclude_none=True)
    return TTSConfig(**chosen)
