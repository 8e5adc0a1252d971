"""The emulator's HTTP app: the Fish REST routes the SDK uses, plus /_emulator/ controls.

Errors use the real API's shape, `{"status": <int>, "message": "<text>"}`.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from dataclasses import asdict
from typing import Any

import ormsgpack
from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from producer.dev.emulator import canned, speech, tones, wallet
from producer.dev.emulator.models import InvalidInput, ensure_decodable
from producer.dev.emulator.state import Controls, Emulator, EmulatorConfig, FaultDraw, FishError
from producer.dev.emulator.stats import RequestLogEntry
from worker.audio.codec import CONTENT_TYPES, encode_pcm16, resample_pcm16

KNOWN_MODELS = ("speech-1.5", "speech-1.6", "s1", "s2", "s2-pro", "s2.1-pro", "s2.1-pro-free")
SAMPLE_RATES = (8000, 16000, 22050, 24000, 32000, 44100, 48000)

__all__ = ["KNOWN_MODELS", "SAMPLE_RATES", "Controls", "Emulator", "EmulatorConfig", "FishError", "create_app"]


def _json(data: Any, *, status: int = 200) -> Response:
    response = jsonify(data)
    response.status_code = status
    return response


def _error(exc: Exception) -> Response:
    """The real API's error shape for our errors and werkzeug's (404, 405, ...)."""
    if isinstance(exc, FishError):
        status, message = exc.status, exc.message
    elif isinstance(exc, HTTPException):
        status, message = exc.code or 500, exc.description or exc.name
    else:
        status, message = 400, str(exc)
    return _json({"status": status, "message": message}, status=status)


def _tts_body() -> dict[str, Any]:
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


def _tts(emu: Emulator, entry: RequestLogEntry) -> Response:
    emu.authorize(request.headers.get("Authorization", ""))
    entry.model_header = request.headers.get("model")
    if entry.model_header not in KNOWN_MODELS:
        raise InvalidInput(
            f"Missing or unknown 'model' header ({entry.model_header!r}); known models: {', '.join(KNOWN_MODELS)}"
        )
    emu.check_credit()  # before the body and the slot: no credit refuses whatever is sent
    with emu.generation_slot() as faults:
        return _render(emu, entry, faults)


def _render(emu: Emulator, entry: RequestLogEntry, faults: FaultDraw) -> Response:
    tone_mode, canned_mode = emu.controls.tone_mode, emu.controls.canned_audio  # read once per request
    body = _tts_body()
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
    if reference_id:
        model = emu.models.get(reference_id)
        if model is None:
            raise InvalidInput(f"Reference not found: {reference_id}")
        if (state := model.state()) != "trained":
            raise InvalidInput(f"Reference model {reference_id} is not trained (state: {state})")
        seed: bytes | None = model.voice_seed
    else:
        for index, (audio, _) in enumerate(references):
            ensure_decodable(audio, what=f"reference audio #{index + 1}")
        seed = b"".join(audio for audio, _ in references) if references else None
    prosody = body.get("prosody")
    speed = prosody.get("speed") if isinstance(prosody, dict) else None
    speed = float(speed) if isinstance(speed, (int, float)) and speed > 0 else 1.0
    resample = sample_rate is not None and fmt != "opus"  # opus is always encoded at 48 kHz
    if canned_mode:
        audio = canned.canned_audio(fmt, sample_rate)
    elif tone_mode:  # the voice and speed were checked above but do not shape a tone
        rate = sample_rate if resample else tones.SAMPLE_RATE
        pcm = tones.tone_pcm(text, sample_rate=rate)
        audio = encode_pcm16(pcm, sample_rate=rate, fmt=fmt)
    else:
        pcm, rate = speech.synthesize(text, voice_seed=seed, speed=speed)
        if resample:
            pcm, rate = resample_pcm16(pcm, from_rate=rate, to_rate=sample_rate), sample_rate
        audio = encode_pcm16(pcm, sample_rate=rate, fmt=fmt)
    if reference_id:
        emu.models.count_use(reference_id)
    emu.stats.add(tts_ok=1, text_bytes=len(text.encode("utf-8")), audio_bytes_sent=len(audio))
    return Response(audio, status=200, content_type=CONTENT_TYPES[fmt])


def _model_form() -> dict[str, Any]:
    """Fields POST and PATCH /model share; absent ones are None."""
    form, cover = request.form, request.files.get("cover_image")
    return {
        "title": form.get("title"),
        "description": form.get("description"),
        "visibility": form.get("visibility"),
        "tags": form.getlist("tags") if "tags" in form else None,
        "cover_image": cover.read() if cover is not None else None,
    }


def _create_model(emu: Emulator) -> Response:
    fields = _model_form()
    if fields["title"] is None:
        raise InvalidInput("title is required")
    if request.form.get("type", "tts") != "tts":
        raise InvalidInput("only type 'tts' is supported")
    model = emu.models.create(
        title=fields["title"],
        description=fields["description"] or "",
        visibility=fields["visibility"] or "public",  # the real API's default
        tags=fields["tags"] or [],
        texts=request.form.getlist("texts"),
        samples=[upload.read() for upload in request.files.getlist("voices")],
        cover_image=fields["cover_image"],
        train_seconds=emu.controls.train_seconds,
        fail_training=emu.controls.fail_training,
    )
    emu.stats.add(models_created=1)
    return _json(model.to_json(quirky_train_mode=emu.controls.quirky_train_mode), status=201)


def _list_models(emu: Emulator) -> Response:
    args = request.args
    try:
        page_size, page_number = int(args.get("page_size", 10)), int(args.get("page_number", 1))
    except ValueError as exc:
        raise InvalidInput("page_size and page_number must be integers") from exc
    if page_size < 1 or page_number < 1:
        raise InvalidInput("page_size and page_number must be at least 1")
    # Every model here was created through this emulator, so `self` filters nothing.
    found = emu.models.search(
        title=args.get("title"), tags=args.getlist("tag"), sort_by=args.get("sort_by", "task_count")
    )
    page = found[(page_number - 1) * page_size : page_number * page_size]
    quirky = emu.controls.quirky_train_mode
    return _json({"total": len(found), "items": [m.to_json(quirky_train_mode=quirky) for m in page]})


def create_app(config: EmulatorConfig) -> Flask:
    """A Flask app emulating the Fish API; its state is app.extensions["fish_emulator"]."""
    app = Flask(__name__)
    emu = Emulator(config)
    app.extensions["fish_emulator"] = emu

    def is_fish_route() -> bool:
        return not request.path.startswith("/_emulator/")

    @app.before_request
    def count_and_authorize() -> None:
        if is_fish_route():
            emu.stats.add(requests_total=1, request_bytes_received=request.content_length or 0)
            if request.path.startswith("/model"):
                emu.authorize(request.headers.get("Authorization", ""))
                emu.delay()

    @app.after_request
    def count_errors(response: Response) -> Response:
        if is_fish_route():
            emu.stats.record_status(response.status_code)
        return response

    @app.errorhandler(FishError)
    @app.errorhandler(InvalidInput)
    @app.errorhandler(HTTPException)
    def error(exc: Exception) -> Response:
        return _error(exc)

    @app.post("/v1/tts")
    def tts() -> Response:
        emu.stats.add(tts_requests=1)
        entry = RequestLogEntry(time=time.time())
        response: Response | None = None
        try:
            try:
                response = _tts(emu, entry)
            except (FishError, InvalidInput) as exc:
                response = _error(exc)
            return response
        finally:
            # Unexpected exceptions still get logged, as the 500 Flask will answer.
            entry.status = response.status_code if response is not None else 500
            emu.stats.log(entry)

    app.register_blueprint(wallet.blueprint)
    app.add_url_rule("/model", "create_model", lambda: _create_model(emu), methods=["POST"])
    app.add_url_rule("/model", "list_models", lambda: _list_models(emu), methods=["GET"])

    @app.get("/model/<model_id>")
    def get_model(model_id: str) -> Response:
        return _json(emu.model_json(model_id))

    @app.patch("/model/<model_id>")
    def update_model(model_id: str) -> Response:
        if emu.models.update(model_id, **_model_form()) is None:
            raise FishError(404, "Model not found")
        return _json(emu.model_json(model_id))

    @app.delete("/model/<model_id>")
    def delete_model(model_id: str) -> Response:
        if not emu.models.delete(model_id):
            raise FishError(404, "Model not found")
        emu.stats.add(models_deleted=1)
        return Response(status=200)

    @app.get("/_emulator/health")
    def health() -> Response:
        return _json({"ok": True})

    app.add_url_rule("/_emulator/stats", "stats", lambda: _json(emu.stats.snapshot()))
    app.add_url_rule("/_emulator/requests", "requests", lambda: _json(emu.stats.entries()))

    @app.post("/_emulator/reset")
    def reset() -> Response:
        emu.stats.reset()
        return _json({"ok": True})

    @app.route("/_emulator/control", methods=["GET", "POST"])
    def control() -> Response:
        if request.method == "POST":
            changes = request.get_json(silent=True)
            if not isinstance(changes, dict):
                raise InvalidInput("send a JSON object of controls to change")
            emu.update_controls(changes)
        return _json(asdict(emu.controls))

    @app.post("/_emulator/models/<model_id>/fail")
    def fail_model(model_id: str) -> Response:
        if emu.models.mark_failed(model_id) is None:
            raise FishError(404, "Model not found")
        return _json(emu.model_json(model_id))

    return app
