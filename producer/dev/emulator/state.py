"""The emulator's state: start-up config, run-time controls and the faults they inject.

Faults are what a client must cope with from the real API: latency, 429s past a
concurrency limit, random 500s, random 429s, random stalls, and a fixed number of
chosen error statuses. The random ones come from one generator a seed can fix.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from werkzeug.http import HTTP_STATUS_CODES

from producer.dev.emulator.faults import dice
from producer.dev.emulator.models import InvalidInput, ModelStore
from producer.dev.emulator.stats import Stats

_MESSAGES = {
    402: "Insufficient API credit",
    429: "Too many requests: concurrency limit exceeded for your plan",
    500: "Internal server error",
}
# What the real API says when the account's API credit runs out (distinct from the fail_status 402).
NO_CREDIT_MESSAGE = "Insufficient API credit. API credit is managed independently from platform credit."
# Controls that are probabilities, besides the *_rate ones
PROBABILITIES = ("fault_drop", "fault_repeat", "fault_garble", "fault_cut", "asr_noise")


@dataclass
class TakeSettings:
    """The take and hearing controls, set at start (EmulatorConfig.takes) and at run time (Controls)."""

    # Faulted takes (faults.py): the fraction of TTS renders that drop, repeat, garble or cut
    fault_drop: float = 0.0
    fault_repeat: float = 0.0
    fault_garble: float = 0.0
    fault_cut: float = 0.0
    asr_noise: float = 0.0  # the fraction of heard words misheard (hearing.py)
    asr_latency_factor: float = 0.2  # an ASR request sleeps this times `latency`


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 8721
    api_key: str | None = None  # None accepts any non-empty key
    latency: float = 0.0
    concurrency: int = 0  # 0 = unlimited
    train_seconds: float = 0.0
    fail_rate: float = 0.0
    fail_training: bool = False
    tone_mode: bool = False  # TTS answers a sine identifying the text (see tones.py)
    canned_audio: bool = False  # TTS answers one fixed clip: benchmarks (see canned.py)
    credit: str = "100"  # API credit, a decimal string as the wallet route answers it
    rate_limit_rate: float = 0.0
    stall_rate: float = 0.0
    stall_seconds: float = 0.0
    # TTS of a text containing this answers 200 with no audio, billed: a text Fish can never render ("": none)
    empty_audio_for: str = ""
    seed: int | None = None  # None seeds the fault generator from the OS
    takes: TakeSettings = field(default_factory=TakeSettings)


@dataclass
class Controls(TakeSettings):
    """Knobs a test may change at run time through POST /_emulator/control (the take settings among them)."""

    latency: float = 0.0
    concurrency: int = 0
    fail_rate: float = 0.0
    train_seconds: float = 0.0
    fail_training: bool = False
    quirky_train_mode: bool = False
    fail_status: int = 0
    fail_count: int = 0
    tone_mode: bool = False
    canned_audio: bool = False  # every TTS request answers the same pre-encoded clip
    credit: str = "100"  # <= 0 makes every TTS request answer 402
    rate_limit_rate: float = 0.0  # fraction of TTS requests answered the concurrency 429
    stall_rate: float = 0.0  # fraction of TTS requests that sleep stall_seconds first
    stall_seconds: float = 0.0
    # TTS of a text containing this answers 200 with no audio, billed: a text Fish can never render ("": none)
    empty_audio_for: str = ""
    seed: int | None = None  # setting it (even to the same value) restarts the fault generator


@dataclass(frozen=True)
class FaultDraw:
    """One TTS request's random faults, drawn together so that a seed fixes each request's lot."""

    rate_limited: bool = False
    stall_seconds: float = 0.0  # 0 = no stall
    failed: bool = False  # answers 500


class FishError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def parse_credit(value: object) -> Decimal:
    """A credit amount: a string holding a finite decimal (NaN could not be compared with 0)."""
    try:
        amount = Decimal(value) if isinstance(value, str) else None
    except InvalidOperation:
        amount = None
    if amount is None or not amount.is_finite():
        raise InvalidInput(f'credit must be a decimal amount as a string, e.g. "12.5": {value!r}')
    return amount


def _check_control(name: str, value: object, kind: type) -> None:
    """Refuse a control value of the wrong type or out of range, before any is applied."""
    if kind is str:
        if name == "credit":
            parse_credit(value)
        elif not isinstance(value, str):
            raise InvalidInput(f"{name} must be a string")
        return
    if name == "seed":  # the only optional control: an integer, or null for an OS-seeded generator
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInput(f"seed must be an integer or null: {value!r}")
        return
    if (kind is bool) != isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidInput(f"{name} must be a {kind.__name__}")
    too_high = ((name.endswith("_rate") or name in PROBABILITIES) and value > 1) or (
        name == "fail_status" and value != 0 and not 400 <= value <= 599
    )
    not_finite = isinstance(value, float) and not math.isfinite(value)  # JSON lets NaN, Infinity in
    if value < 0 or too_high or not_finite:
        raise InvalidInput(f"{name} is out of range: {value}")


class Emulator:
    """State behind one app: config, run-time controls, stats and models."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.controls = Controls(
            latency=config.latency,
            concurrency=config.concurrency,
            fail_rate=config.fail_rate,
            train_seconds=config.train_seconds,
            fail_training=config.fail_training,
            tone_mode=config.tone_mode,
            canned_audio=config.canned_audio,
            credit=str(parse_credit(config.credit)),
            rate_limit_rate=config.rate_limit_rate,
            stall_rate=config.stall_rate,
            stall_seconds=config.stall_seconds,
            seed=config.seed,
            **asdict(config.takes),
        )
        # The wallet's timestamps: created with the emulator, updated whenever credit is set.
        self.created_at = self.credit_updated_at = time.time()
        self.stats = Stats()
        self.models = ModelStore()
        self._lock = threading.Lock()
        self._random = random.Random(config.seed)
        self._renders: dict[bytes, int] = {}  # how many times each text (by digest) was rendered

    def take_dice(self, text: str) -> random.Random:
        """The dice for this render of `text`: seeded by the text and how many times it was rendered before."""
        key = hashlib.sha256(text.encode("utf-8")).digest()
        with self._lock:
            before = self._renders.get(key, 0)
            self._renders[key] = before + 1
        return dice(text, before)

    def forget_renders(self) -> None:
        with self._lock:
            self._renders.clear()

    def fault_rates(self) -> dict[str, float]:
        c = self.controls
        return {"drop": c.fault_drop, "repeat": c.fault_repeat, "garble": c.fault_garble, "cut": c.fault_cut}

    def authorize(self, header: str) -> None:
        """Check an Authorization header value against the configured key."""
        scheme, _, key = header.partition(" ")
        key = key.strip()
        expected = self.config.api_key
        if scheme.lower() != "bearer" or not key or (expected and key != expected):
            raise FishError(401, "Invalid Token")

    def delay(self, factor: float = 1.0) -> None:
        if self.controls.latency * factor > 0:
            time.sleep(self.controls.latency * factor)

    def draw_faults(self) -> FaultDraw:
        """This TTS request's random faults: one independent draw per fault, always all three."""
        with self._lock:
            c = self.controls
            limited, stalled, failed = (
                self._random.random() < rate for rate in (c.rate_limit_rate, c.stall_rate, c.fail_rate)
            )
            return FaultDraw(rate_limited=limited, stall_seconds=c.stall_seconds if stalled else 0.0, failed=failed)

    @contextmanager
    def generation_slot(self, *, latency_factor: float = 1.0) -> Iterator[FaultDraw]:
        """Hold one TTS (or ASR) slot under the concurrency limit, or raise 429 if none is free.

        A drawn rate limit answers the same 429 without taking a slot; a drawn stall sleeps
        while holding it. The slot is held for `latency` times `latency_factor`. Yields the draw, for take_fault.
        """
        faults = self.draw_faults()
        if faults.rate_limited or not self.stats.try_enter(limit=self.controls.concurrency):
            raise FishError(429, _MESSAGES[429])
        try:
            self.delay(latency_factor)  # holds the concurrency slot, like real generation
            if faults.stall_seconds > 0:
                self.stats.add(stalled=1)  # counted as it starts, so a client that gave up sees it
                time.sleep(faults.stall_seconds)
            yield faults
        finally:
            self.stats.leave()

    def take_fault(self, faults: FaultDraw) -> FishError | None:
        """The injected failure this TTS request gets, if any: a chosen status first, then a drawn 500."""
        with self._lock:
            status = self.controls.fail_status
            if self.controls.fail_count > 0 and status:
                self.controls.fail_count -= 1
                return FishError(status, _MESSAGES.get(status) or HTTP_STATUS_CODES.get(status, "Error"))
        return FishError(500, _MESSAGES[500]) if faults.failed else None

    def update_controls(self, changes: dict[str, Any]) -> None:
        current = asdict(self.controls)
        unknown = set(changes) - set(current)
        if unknown:
            raise InvalidInput(f"unknown control keys: {', '.join(sorted(unknown))}")
        for name, value in changes.items():
            _check_control(name, value, type(current[name]))
        with self._lock:
            for name, value in changes.items():
                if name == "credit":  # stored canonical, so " 5" reads back as "5"
                    value = str(parse_credit(value))
                    self.credit_updated_at = time.time()
                if name == "seed":
                    self._random.seed(value)
                else:
                    value = type(current[name])(value)
                setattr(self.controls, name, value)

    def check_credit(self) -> None:
        """Refuse a TTS request with the real API's 402 once the API credit is used up."""
        if parse_credit(self.controls.credit) <= 0:
            raise FishError(402, NO_CREDIT_MESSAGE)

    def model_json(self, model_id: str) -> dict[str, Any]:
        model = self.models.get(model_id)
        if model is None:
            raise FishError(404, "Model not found")
        return model.to_json(quirky_train_mode=self.controls.quirky_train_mode)
