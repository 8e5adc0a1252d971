"""Synthesis settings as users give them (CLI flags, batch file entries), checked against the API's ranges."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from worker.contract import Synthesis
from worker.errors import BadInput

_FLAGS = {
    "latency": "--latency",
    "speed": "--speed",
    "temperature": "--temperature",
    "top_p": "--top-p",
    "normalize": "--normalize",
    "sample_rate": "--sample-rate",
}


def synthesis_from(where: str = "", **values: Any) -> Synthesis:
    """A Synthesis from the values given (None: not set), or BadInput naming the setting and its range."""
    try:
        return Synthesis(**{k: v for k, v in values.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{_FLAGS.get(str(e['loc'][0]), e['loc'][0])} {e.get('input')!r}: {e['msg'].lower()}" for e in exc.errors()
        )
        raise BadInput(f"{where}{': ' if where else ''}{problems}") from None
