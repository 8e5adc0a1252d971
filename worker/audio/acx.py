"""ACX (audiobook store) compliance: a loudness measurement (worker.audio.loudness) checked against the store's limits.

RMS between -23 and -18 dB, peaks (and true peaks, when measured) at most -3 dB, a noise floor at most -60 dB,
and no 0.5 s of digital silence (room tone, not nothing, between the words).
"""

from __future__ import annotations

from typing import Any

from worker.audio.loudness import Loudness

ACX_RMS_RANGE = (-23.0, -18.0)
ACX_PEAK_MAX = -3.0
ACX_NOISE_FLOOR_MAX = -60.0
ACX_TRUE_PEAK_MAX = -3.0


def acx_report(loudness: Loudness, *, true_peak_db: float | None = None) -> dict[str, Any]:
    """JSON-ready figures (2 decimals) and the ACX checks, each with its limit; checks use the unrounded values.

    `true_peak_db`: when the chain that wrote the file measured it (BS.1770, oversampled), checked too.
    """
    low, high = ACX_RMS_RANGE
    checks = {
        "rms": {
            "value": round(loudness.rms_db, 2),
            "limit": f"{low:g} to {high:g} dB",
            "pass": low <= loudness.rms_db <= high,
        },
        "peak": {
            "value": round(loudness.peak_db, 2),
            "limit": f"at most {ACX_PEAK_MAX:g} dB",
            "pass": loudness.peak_db <= ACX_PEAK_MAX,
        },
        "noise_floor": {
            "value": round(loudness.noise_floor_db, 2),
            "limit": f"at most {ACX_NOISE_FLOOR_MAX:g} dB",
            "pass": loudness.noise_floor_db <= ACX_NOISE_FLOOR_MAX,
        },
        "room_tone": {
            "value": round(loudness.silent_seconds, 2),
            "limit": "no 0.5 s of digital silence (seconds found)",
            "pass": loudness.silent_seconds == 0.0,
        },
    }
    if true_peak_db is not None:
        checks["true_peak"] = {
            "value": round(true_peak_db, 2),
            "limit": f"at most {ACX_TRUE_PEAK_MAX:g} dBTP",
            "pass": true_peak_db <= ACX_TRUE_PEAK_MAX,
        }
    return {
        "integrated_lufs": round(loudness.integrated_lufs, 2),
        "rms_db": round(loudness.rms_db, 2),
        "peak_db": round(loudness.peak_db, 2),
        "noise_floor_db": round(loudness.noise_floor_db, 2),
        "true_peak_db": None if true_peak_db is None else round(true_peak_db, 2),
        "duration_seconds": round(loudness.duration_seconds, 2),
        "checks": checks,
        "pass": all(check["pass"] for check in checks.values()),
    }
