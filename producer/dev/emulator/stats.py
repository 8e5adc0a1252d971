"""Thread-safe counters, the in-flight gauge and a bounded log of TTS and ASR requests."""

from __future__ import annotations

import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Mode = Literal["one_shot", "reference_id", "default"]

COUNTERS: tuple[str, ...] = (
    "requests_total",
    "tts_requests",
    "tts_ok",
    "stalled",
    "one_shot_requests",
    "reference_id_requests",
    "reference_bytes_received",
    "request_bytes_received",
    "text_bytes",
    "audio_bytes_sent",
    "models_created",
    "models_deleted",
    "takes_faulted",
    "asr_requests",
    "asr_ok",
    "asr_seconds_billed",
)
LOG_SIZE = 10_000


@dataclass
class RequestLogEntry:
    """One TTS (or ASR) request as the emulator saw it; filled in while it is handled."""

    time: float
    kind: Literal["tts", "asr"] = "tts"
    model_header: str | None = None
    text: str = ""
    format: str | None = None
    mode: Mode = "default"
    reference_id: str | None = None
    reference_texts: list[str] = field(default_factory=list)
    reference_bytes: int = 0
    status: int = 0
    settings: dict[str, Any] = field(default_factory=dict)  # latency, speed, sample_rate, temperature, top_p, normalize
    tone_hz: float | None = None  # the tone answered in tone mode; None otherwise
    fault: str | None = None  # the take's fault (drop, repeat, garble, cut: faults.py); None for a clean take
    fault_detail: str = ""  # the words it concerns: dropped, repeated, garbled (as said) or cut off
    audio_sha256: str = ""  # TTS: the answer's audio, so a test can tell which take a stored file is
    heard: str = ""  # ASR: the transcript answered (`text` stays "" so TTS counts by text are unchanged)
    audio_seconds: float | None = None  # ASR: the audio's length
    seconds_billed: int = 0  # ASR: whole seconds, rounded up


class Stats:
    def __init__(self, *, log_size: int = LOG_SIZE) -> None:
        self._lock = threading.Lock()
        self._counters: Counter[str] = Counter()
        self._errors: Counter[int] = Counter()
        self._log: deque[RequestLogEntry] = deque(maxlen=log_size)
        self._in_flight = 0
        self._peak = 0

    def add(self, **amounts: int) -> None:
        unknown = set(amounts) - set(COUNTERS)
        if unknown:
            raise KeyError(f"unknown counters: {sorted(unknown)}")
        with self._lock:
            self._counters.update(amounts)

    def record_status(self, status: int) -> None:
        if status >= 400:
            with self._lock:
                self._errors[status] += 1

    def try_enter(self, *, limit: int) -> bool:
        """Admit one TTS request unless `limit` (> 0) are already in flight."""
        with self._lock:
            if limit > 0 and self._in_flight >= limit:
                return False
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            return True

    def leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def log(self, entry: RequestLogEntry) -> None:
        with self._lock:
            self._log.append(entry)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            data: dict[str, Any] = {name: self._counters[name] for name in COUNTERS}
            data["errors_by_status"] = {str(k): v for k, v in sorted(self._errors.items())}
            data["in_flight"] = self._in_flight
            data["peak_in_flight"] = self._peak
            return data

    def entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(entry) for entry in self._log]

    def reset(self) -> None:
        """Clear counters and log; requests still in flight stay counted."""
        with self._lock:
            self._counters.clear()
            self._errors.clear()
            self._log.clear()
            self._peak = self._in_flight
