"""The emulator's POST /v1/tts: checks what the SDK sends as the real API does, then answers with audio.

The audio is espeak-ng speech in the voice the references (or a trained model) seed, a tone naming the text
(tone mode), or canned audio; it says the take of the text (faults.py: perhaps faulted) and carries its words
(takes.py). Every request is logged with what it sent and the take's fault.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

import ormsgpack
from flask import Response, request

from producer.dev.emulator import canned, takes, tones
from producer.dev.emulator.faults import Take, plan_take
from producer.dev.emulator.models import InvalidInput, ensure_decodable
from producer.dev.emulator.state import Emulator, FaultDraw
from producer.dev.emulator.stats import RequestLogEntry
from worker.audio.codec import CONTENT_TYPES, encode_pcm16

KNOWN_MODELS = ("speech-1.5", "speech-1.6", "s1", "s2", "s2-pro", "s2.1-pro", "s2.1-pro-free")
SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)
LOSSLESS = ("wav", "pcm")  # the formats whose samples keep the words written into them


def tts(emu: Emulator, entry: RequestLogEntry) -> Response:
    """Answer one TTS request, recording in `entry` what it sent."""
    emu.authorize(request.headers.get("Authorization", ""))
    entry.model_header = request.headers.get("model")
    if entry.model_header not in KNOWN_MODELS:
        raise InvalidInput(
            f"Missing or unknown 'model' header ({entry.model_header!r}); known models: {', '.join(KNOWN_MODELS)}"
        )
    emu.check_credit()  # before the body and the slot: no credit refuses whatever is sent
    with emu.generation_slot() as faults:
        return _render(emu, entry, faults)


def request_body() -> dict[str, Any]:
    is_json = request.mimetype == "application/json"
    try:
        body = json.loads(request.get_data()) if is_json else ormsgpack.unpackb(request.get_data())
    except (ValueError, ormsgpack.MsgpackDecodeError) as exc:
        raise InvalidInput(f"Request body is not valid {'JSON' if is_json else 'msgpack'}") from exc
    if not isinstance(body, dict):
        raise InvalidInput("Request body must be an object")
    return body


def _references(body: dict[str, Any]) -> list[tuple[bytes, str]]:
    refs = body.get("references") or []
    parsed: list[tuple[bytes, str]] = []
    for index, ref in enumerate(refs if isinstance(refs, list) else [refs]):
        audio = ref.get("audio") if isinstance(ref, dict) else None
        if isinstance(audio, str):  # JSON bodies carry the audio base64-encoded
            try:
                audio = base64.b64decode(audio, validate=True)
            except (binascii.Error, ValueError):
                audio = None
        if not isinstance(audio, bytes):
            raise InvalidInput(f"reference #{index + 1} needs audio bytes and a text")
        parsed.append((audio, str(ref.get("text", ""))))
    return parsed


def _render(emu: Emulator, entry: RequestLogEntry, faults: FaultDraw) -> Response:
    tone_mode, canned_mode = emu.controls.tone_mode, emu.controls.canned_audio  # read once per request
    body = request_body()
    text, fmt = body.get("text"), body.get("format") or "mp3"
    references = _references(body)
    reference_id = body.get("reference_id") or None
    entry.text = text if isinstance(text, str) else ""
    entry.tone_hz = tones.tone_frequency(entry.text) if tone_mode else None
    entry.format, entry.reference_id = str(fmt), reference_id
    entry.reference_texts = [ref_text for _, ref_text in references]
    entry.reference_bytes = sum(len(audio) for audio, _ in references)
    entry.mode = "reference_id" if reference_id else ("one_shot" if references else "default")
    # Inline references are counted even when reference_id makes the API ignore them.
    emu.stats.add(
        reference_bytes_received=entry.reference_bytes,
        one_shot_requests=int(entry.mode == "one_shot"),
        reference_id_requests=int(entry.mode == "reference_id"),
    )
    fault = emu.take_fault(faults)
    if fault is not None:
        raise fault
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("Text is empty")
    if emu.controls.empty_audio_for and emu.controls.empty_audio_for in text:
        emu.stats.add(tts_ok=1, text_bytes=len(text.encode("utf-8")))
        return Response(b"", status=200, content_type=CONTENT_TYPES.get(str(fmt), "audio/mpeg"))
    if fmt not in CONTENT_TYPES:
        raise InvalidInput(f"Unknown format {fmt!r}; use one of {', '.join(CONTENT_TYPES)}")
    sample_rate = body.get("sample_rate")
    prosody_sent = body.get("prosody") if isinstance(body.get("prosody"), dict) else {}
    entry.settings = {key: body.get(key) for key in ("latency", "sample_rate", "temperature", "top_p", "normalize")}
    entry.settings["speed"] = prosody_sent.get("speed")
    if sample_rate is not None and sample_rate not in SAMPLE_RATES:
        raise InvalidInput(f"Unsupported sample_rate {sample_rate!r}; use one of {SAMPLE_RATES}")
    seed = _voice_seed(emu, reference_id, references)
    speed = prosody_sent.get("speed")
    speed = float(speed) if isinstance(speed, (int, float)) and speed > 0 else 1.0
    take = plan_take(text, emu.fault_rates(), emu.take_dice(text))
    entry.fault, entry.fault_detail = take.fault, take.detail
    mode = "canned" if canned_mode else ("tone" if tone_mode else "speech")
    audio = _audio(take, text=text, fmt=fmt, sample_rate=sample_rate, seed=seed, speed=speed, mode=mode)
    entry.audio_sha256 = hashlib.sha256(audio).hexdigest()
    if reference_id:
        emu.models.count_use(reference_id)
    emu.stats.add(
        tts_ok=1, text_bytes=len(text.encode("utf-8")), audio_bytes_sent=len(audio), takes_faulted=int(bool(take.fault))
    )
    return Response(audio, status=200, content_type=CONTENT_TYPES[fmt])


def _voice_seed(emu: Emulator, reference_id: str | None, references: list[tuple[bytes, str]]) -> bytes | None:
    """What the voice is made from: a trained model's seed, or the references' audio (each checked to decode)."""
    if reference_id:
        model = emu.models.get(reference_id)
        if model is None:
            raise InvalidInput(f"Reference not found: {reference_id}")
        if (state := model.state()) != "trained":
            raise InvalidInput(f"Reference model {reference_id} is not trained (state: {state})")
        return model.voice_seed
    for index, (audio, _) in enumerate(references):
        ensure_decodable(audio, what=f"reference audio #{index + 1}")
    return b"".join(audio for audio, _ in references) if references else None


def _audio(
    take: Take, *, text: str, fmt: str, sample_rate: int | None, seed: bytes | None, speed: float, mode: str
) -> bytes:
    """The take encoded as `fmt`: canned, a tone for `text` (voice and speed, checked, do not shape it) or speech."""
    target = sample_rate if sample_rate is not None and fmt != "opus" else None  # opus is always encoded at 48 kHz
    if mode == "canned" and take.fault is None and fmt not in LOSSLESS:
        return canned.canned_audio(fmt, sample_rate)
    if mode == "canned":
        pcm, rate = canned.canned_pcm(target)
        pcm = takes.steady_take(take, pcm)
    elif mode == "tone":
        rate = target or tones.SAMPLE_RATE
        pcm = takes.steady_take(take, tones.tone_pcm(text, sample_rate=rate))
    else:
        pcm, rate = takes.speech_take(take, voice_seed=seed, speed=speed, sample_rate=target)
    return encode_pcm16(pcm, sample_rate=rate, fmt=fmt)
