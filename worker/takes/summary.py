"""What reports keep of a chunk's takes, and where a failing chunk sits in the file a person listens to.

A chunk's summary is small when it passed (takes and verdict); a failing one carries what was heard and each
finding, so a chapter's report needs nothing else to tell a person which seconds to listen to and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from worker.takes.record import ChunkTakes


def chunk_summary(record: ChunkTakes, *, seconds_heard: int = 0, retake_bytes: int = 0) -> dict[str, Any]:
    """{"takes", "verdict": pass|fail|unheard, "score"} and, failing, {"heard", "findings"} (times in the take);
    what this delivery paid for hearing (seconds) and retakes (text bytes), when it paid anything."""
    chosen = record.chosen_take()
    assert chosen is not None
    verdict = chosen.judged()
    summary: dict[str, Any] = {"takes": len(record.takes), "chosen": chosen.take}
    if seconds_heard or retake_bytes:
        summary["paid"] = {"asr_seconds": seconds_heard, "retake_bytes": retake_bytes}
    if verdict is None:
        return summary | {"verdict": "unheard", "why": chosen.unheard}
    summary |= {"verdict": "pass" if verdict.passed else "fail", "score": verdict.score}
    if not verdict.passed:
        heard = chosen.heard or {}
        summary |= {"heard": heard.get("text", ""), "findings": [_finding(f) for f in verdict.to_json()["findings"]]}
    return summary


def _finding(found: dict[str, Any]) -> dict[str, Any]:
    return {k: found[k] for k in ("kind", "text", "heard", "start", "end")}


def failing_chunk(summary: dict[str, Any], *, chunk: int, text: str, start: float, end: float) -> dict[str, Any]:
    """A chunk left failing, placed in its file: `start`/`end` are the chunk's seconds there, and each finding's
    times are moved from the take into the file too."""

    def placed(seconds: float | None) -> float | None:
        return None if seconds is None else round(start + seconds, 3)

    return {
        "chunk": chunk,
        "start_seconds": round(start, 3),
        "end_seconds": round(end, 3),
        "text": text,
        "heard": summary.get("heard", ""),
        "takes": summary["takes"],
        "faults": [
            {**f, "start": placed(f.get("start")), "end": placed(f.get("end"))} for f in summary.get("findings", [])
        ],
    }


def totals(summaries: Iterable[dict[str, Any] | None]) -> dict[str, int]:
    """Counts over a file's chunks: heard (with a verdict), takes heard, retakes, left failing, not heard; and what
    hearing (seconds) and retakes (text bytes) were billed."""
    out = {
        "chunks_heard": 0,
        "takes_heard": 0,
        "retakes": 0,
        "left_failing": 0,
        "not_heard": 0,
        "asr_seconds_billed": 0,
        "retake_bytes_billed": 0,
    }
    for summary in summaries:
        paid = (summary or {}).get("paid", {})
        out["asr_seconds_billed"] += paid.get("asr_seconds", 0)
        out["retake_bytes_billed"] += paid.get("retake_bytes", 0)
        if summary is None or summary["verdict"] == "unheard":
            out["not_heard"] += 1
            continue
        out["chunks_heard"] += 1
        out["takes_heard"] += summary["takes"]
        out["retakes"] += summary["takes"] - 1
        out["left_failing"] += summary["verdict"] == "fail"
    return out


def costs(report: dict[str, Any], *, asr_price_per_hour: float, price_per_million_bytes: float) -> dict[str, Any]:
    """A report with what its hearing and its retakes cost, in USD at the given prices."""
    return report | {
        "asr_cost_usd": round(report.get("asr_seconds_billed", 0) * asr_price_per_hour / 3600, 6),
        "retake_cost_usd": round(report.get("retake_bytes_billed", 0) * price_per_million_bytes / 1e6, 6),
    }
