"""The emulator's POST /v1/asr: Fish's speech-to-text, hearing what the audio carries (hearing.py).

The body is msgpack (or JSON) with `audio` bytes, `language` and `ignore_timestamps`; the answer is Fish's shape:
`text`, `duration` in seconds (Fish's docs say seconds; the SDK's ASRResponse comment says milliseconds) and one
`segments` entry a word. Fish's limits hold: at least 1 s and at most 60 min of audio (400), at most 20 MB (413).
ASR takes a slot under the same concurrency limit as TTS and meets the same injected faults; it sleeps
`latency` times `asr_latency_factor`, and is billed per second of audio, rounded up.
"""

from __future__ import annotations

import math

from flask import Response, jsonify

from producer.dev.emulator.hearing import hear
from producer.dev.emulator.models import InvalidInput
from producer.dev.emulator.state import Emulator, FishError
from producer.dev.emulator.stats import RequestLogEntry
from producer.dev.emulator.tts import request_body

MIN_SECONDS = 1.0
MAX_SECONDS = 60 * 60.0
MAX_BYTES = 20 * 1024 * 1024


def asr(emu: Emulator, entry: RequestLogEntry, authorization: str) -> Response:
    """Answer one ASR request, recording in `entry` what was heard."""
    entry.kind = "asr"
    emu.authorize(authorization)
    emu.check_credit()
    body = request_body()
    audio = body.get("audio")
    if not isinstance(audio, bytes) or not audio:
        raise InvalidInput("audio is required: send the file's bytes")
    if len(audio) > MAX_BYTES:
        raise FishError(413, f"Audio file too large: {len(audio)} bytes, at most {MAX_BYTES} (20 MB)")
    with emu.generation_slot(latency_factor=emu.controls.asr_latency_factor) as faults:
        fault = emu.take_fault(faults)
        if fault is not None:
            raise fault
        heard = hear(audio, noise=emu.controls.asr_noise)
        if not MIN_SECONDS <= heard.duration <= MAX_SECONDS:
            raise InvalidInput(
                f"Audio duration {heard.duration:.2f}s is out of range: "
                f"audio must be between {MIN_SECONDS:g} second and {MAX_SECONDS / 60:g} minutes long"
            )
    entry.heard, entry.audio_seconds = heard.text, heard.duration
    entry.seconds_billed = math.ceil(heard.duration)
    entry.settings = {"language": body.get("language"), "ignore_timestamps": bool(body.get("ignore_timestamps"))}
    emu.stats.add(asr_ok=1, asr_seconds_billed=entry.seconds_billed)
    segments = [] if body.get("ignore_timestamps") else heard.segments()
    return jsonify({"text": heard.text, "duration": round(heard.duration, 3), "segments": segments})
