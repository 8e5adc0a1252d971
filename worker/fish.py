"""The Fish Audio API through the official SDK: the only `fishaudio` import.

The SDK never retries and hides response headers; this module only maps its
errors onto ours (Transient vs Permanent) and times each request. Retrying is
the task layer's job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx
from fishaudio import FishAudio
from fishaudio.exceptions import APIError, FishAudioError
from fishaudio.types import ReferenceAudio

from worker.errors import FishRejected, FishUnavailable, PermanentError, VoiceNotFound
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


class FishClient:
    """One per worker process: it holds the SDK client and its HTTP connection pool."""

    def __init__(self, settings: Settings) -> None:
        if settings.fish_api_key is None and settings.fish_base_url.rstrip("/") == FISH_CLOUD:
            raise PermanentError(
                "FISH_API_KEY is not set: set it to render with the Fish Audio cloud,"
                " or point NARRATE_FISH_BASE_URL at an emulator"
            )
        self._key = settings.fish_key()
        self._model = settings.fish_model
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
    ) -> Speech:
        """One TTS request; with `reference_id` only the id is sent, else the clips."""
        inline = [] if reference_id else [ReferenceAudio(audio=a, text=t) for a, t in references or []]
        started = time.perf_counter()
        try:
            audio = self._sdk.tts.convert(
                text=text,
                format=fmt,  # type: ignore[arg-type]
                reference_id=reference_id,
                references=inline,
                model=self._model,  # type: ignore[arg-type]
            )
        except (APIError, FishAudioError, httpx.HTTPError) as exc:
            raise self._mapped(exc, reference_id=reference_id) from None
        if not audio:
            raise FishUnavailable("the Fish API answered 200 with no audio; will retry")
        return Speech(
            audio=audio,
            latency_seconds=time.perf_counter() - started,
            reference_bytes_sent=sum(len(ref.audio) for ref in inline),
        )

    def close(self) -> None:
        self._sdk.close()

    def _mapped(self, exc: Exception, *, reference_id: str | None) -> Exception:
        if isinstance(exc, httpx.TimeoutException):
            return FishUnavailable("the Fish API timed out; will retry")
        if isinstance(exc, httpx.HTTPError):
            return FishUnavailable(f"cannot reach the Fish API ({exc.__class__.__name__}); will retry")
        if not isinstance(exc, APIError):
            return FishRejected(self._clean(f"the Fish SDK refused the request: {exc}"), status=0)
        status, detail = exc.status, self._clean(str(exc.message))[:300]
        if status == 429 or status >= 500:
            return FishUnavailable(f"the Fish API is busy or failing ({status}: {detail}); will retry")
        if reference_id and (status == 404 or (status == 400 and "reference" in detail.lower())):
            return VoiceNotFound(f"the Fish voice {reference_id} was not found ({status}: {detail})", status=status)
        hint = _PERMANENT_HINTS.get(status, f"the Fish API rejected the request ({status})")
        return FishRejected(f"{hint}: {detail}", status=status)

    def _clean(self, message: str) -> str:
        # The key must never reach a log, a record or a manifest, even if echoed back.
        return message.replace(self._key, "[redacted]") if self._key else message
