"""The emulator's HTTP app: the Fish REST routes the SDK uses, plus /_emulator/ controls.

Errors use the real API's shape, `{"status": <int>, "message": "<text>"}`. The TTS route's work is in
producer.dev.emulator.tts, the ASR route's in producer.dev.emulator.asr, the wallet's in producer.dev.emulator.wallet.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from producer.dev.emulator import asr as asr_route
from producer.dev.emulator import tts as tts_route
from producer.dev.emulator import wallet
from producer.dev.emulator.models import InvalidInput
from producer.dev.emulator.state import Controls, Emulator, EmulatorConfig, FishError
from producer.dev.emulator.stats import RequestLogEntry
from producer.dev.emulator.tts import KNOWN_MODELS, SAMPLE_RATES

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
    _count_and_answer_errors(app, emu)
    _add_tts_and_asr_routes(app, emu)
    app.register_blueprint(wallet.blueprint)
    _add_model_routes(app, emu)
    _add_emulator_routes(app, emu)
    return app


def _count_and_answer_errors(app: Flask, emu: Emulator) -> None:
    """Every Fish route's request counted (and a /model one authorized and delayed), every error in the API's shape."""

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


def _add_tts_and_asr_routes(app: Flask, emu: Emulator) -> None:
    """POST /v1/tts and POST /v1/asr: each request counted, answered and logged with its status."""

    def logged(handle: Callable[[RequestLogEntry], Response]) -> Response:
        entry = RequestLogEntry(time=time.time())
        response: Response | None = None
        try:
            try:
                response = handle(entry)
            except (FishError, InvalidInput) as exc:
                response = _error(exc)
            return response
        finally:
            # Unexpected exceptions still get logged, as the 500 Flask will answer.
            entry.status = response.status_code if response is not None else 500
            emu.stats.log(entry)

    @app.post("/v1/tts")
    def tts() -> Response:
        emu.stats.add(tts_requests=1)
        return logged(lambda entry: tts_route.tts(emu, entry))

    @app.post("/v1/asr")
    def asr() -> Response:
        emu.stats.add(asr_requests=1)
        return logged(lambda entry: asr_route.asr(emu, entry, request.headers.get("Authorization", "")))


def _add_model_routes(app: Flask, emu: Emulator) -> None:
    """The voice models: create, list, get, update, delete."""
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


def _add_emulator_routes(app: Flask, emu: Emulator) -> None:
    """/_emulator/: health, statistics, the request log, and the controls that inject faults."""

    @app.get("/_emulator/health")
    def health() -> Response:
        return _json({"ok": True})

    app.add_url_rule("/_emulator/stats", "stats", lambda: _json(emu.stats.snapshot()))
    app.add_url_rule("/_emulator/requests", "requests", lambda: _json(emu.stats.entries()))

    @app.post("/_emulator/reset")
    def reset() -> Response:
        emu.stats.reset()
        emu.forget_renders()  # a test's takes draw the same dice whatever rendered before it
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
