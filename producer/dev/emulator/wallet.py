"""The Fish wallet route the SDK's `account.get_credits()` reads: the API credit balance."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from producer.dev.emulator.models import iso_time
from producer.dev.emulator.state import Emulator

blueprint = Blueprint("wallet", __name__)

# One fixed account: ids only need to be stable for the emulator's lifetime.
WALLET_ID = "emulator-api-credit"
USER_ID = "emulator-user"


def _emulator() -> Emulator:
    emu: Emulator = current_app.extensions["fish_emulator"]
    return emu


@blueprint.before_request
def authorize() -> None:
    _emulator().authorize(request.headers.get("Authorization", ""))


@blueprint.get("/wallet/self/api-credit")
def api_credit() -> Response:
    emu = _emulator()
    body: dict[str, Any] = {
        "_id": WALLET_ID,
        "user_id": USER_ID,
        "credit": emu.controls.credit,  # a string, so the SDK's Decimal keeps every digit
        "created_at": iso_time(emu.created_at),
        "updated_at": iso_time(emu.credit_updated_at),
        "has_phone_sha256": False,
    }
    # The SDK only asks about free credit on request; the emulator never grants any.
    if request.args.get("check_free_credit", "").lower() == "true":
        body["has_free_credit"] = False
    return jsonify(body)
