"""The book's manifest.json: what was made, where it is, what it cost, and each file's report. Written last."""

from __future__ import annotations

from datetime import UTC, datetime

from worker import keys
from worker.books.hearing import book_qc
from worker.books.plan import BookPlan
from worker.takes.summary import costs

_NO_PRICES = {"asr_price_per_hour": 0.0, "price_per_million_bytes": 0.0}


def book_manifest(
    plan: BookPlan,
    *,
    book: dict,
    marks: list[tuple[str, float, float]],
    book_key: str,
    book_report: dict,
    prices: dict[str, float] | None = None,
) -> dict:
    """`prices`: asr_price_per_hour and price_per_million_bytes, for what hearing and retakes cost."""
    bucket, prefix = plan.output.bucket, plan.output.prefix
    chapters = []
    for chapter, (title, start, end) in zip(plan.chapters, marks):
        state = book["chapters"][chapter.index] if chapter.index < len(book.get("chapters", [])) else {}
        loudness = state.get("loudness") or {}
        chapters.append(
            {
                "index": chapter.index,
                "title": title,
                "role": chapter.role,
                "start_seconds": round(start, 3),
                "end_seconds": round(end, 3),
                "chunks": len(chapter.chunks),
                "output_url": state.get("output_url", ""),
                "gain_db": state.get("gain_db"),
                "loudness": loudness.get("normalized"),
                "loudness_before": loudness.get("measured"),
                "qc": state.get("qc"),  # proof-listening: totals and every chunk left failing; None: not heard
                "chunk_times": state.get("chunk_times"),  # each chunk's [start, end] in the chapter file
                # the chunks whose text a lexicon changed, and by which entries
                "lexicon": [
                    {"chunk": c.index, "key": c.key, "entries": c.lexicon} for c in chapter.chunks if c.lexicon
                ],
            }
        )
    reports = {"book.m4b": book_report}
    sample = next((c["sample_loudness"] for c in book.get("chapters", []) if c.get("sample_loudness")), None)
    if sample:
        reports["sample"] = sample
    return {
        "schema_version": 1,
        "book_id": plan.book_id,
        "title": plan.title,
        "author": plan.author,
        "source": plan.source,
        "voice_reference": plan.voice.reference_hash if plan.voice.mode == "clips" else plan.voice.reference_id,  # type: ignore[union-attr]
        "fish_model": plan.fish_model,
        "chunks": {
            "total": plan.chunk_count,
            "rendered": book.get("chunks_rendered", 0),
            "reused": book.get("chunks_reused", 0),
        },
        "text_bytes": plan.text_bytes,
        "bytes_billed": book.get("bytes_billed", 0),
        "estimated_cost_usd": book.get("estimated_cost_usd"),
        "acx_pass": all((c["loudness"] or {}).get("pass") for c in chapters)
        and all(r["pass"] for r in reports.values()),
        "reports": reports,  # the files that are not chapters: the .m4b, and the retail sample
        "chapters": chapters,
        "outputs": {
            "m4b": keys.s3_url(bucket, book_key),
            "chapters_json": keys.s3_url(bucket, keys.book_sidecar(prefix, plan.book_id, "json")),
            "srt": keys.s3_url(bucket, keys.book_sidecar(prefix, plan.book_id, "srt")),
            "vtt": keys.s3_url(bucket, keys.book_sidecar(prefix, plan.book_id, "vtt")),
            "chapters": [c["output_url"] for c in chapters],
            "sample": next((c["sample_url"] for c in book.get("chapters", []) if c.get("sample_url")), None),
            # the book's text with its sentences highlighted as they are heard (--read-along); None: not asked for
            "read_along": keys.s3_url(bucket, keys.book_read_along(prefix, plan.book_id)) if plan.read_along else None,
        },
        "preset": plan.preset,
        "qc": costs(book_qc([c["qc"] for c in chapters], mode=plan.qc.mode), **(prices or _NO_PRICES)),
        "lexicons": [
            {"name": ref.name, "sha256": ref.sha256, "url": keys.s3_url(ref.bucket or bucket, ref.key)}
            for ref in plan.lexicons
        ],
        "submitted_at": plan.submitted_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
    }
