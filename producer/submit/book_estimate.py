"""What a book costs and how long it plays, before anything is rendered: chunks already in S3 are priced at zero."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from producer.submit.bookparts import CHARACTERS_PER_SECOND
from worker.books.plan import BookPlan
from worker.storage import Storage


@dataclass(frozen=True)
class Estimate:
    """What rendering a book costs and how long it plays (`narrate estimate`, a budget's check)."""

    chapters: int
    chunks: int
    text_bytes: int
    cost_usd: float
    cached_chunks: int | None  # None: not looked up (no voice or output given)
    uncached_bytes: int
    uncached_cost_usd: float
    audio_seconds: float
    # With a lexicon to try (`narrate estimate --lexicon`): the chunks it changes, and what the changed ones not yet
    # rendered cost; None: no lexicon given.
    lexicon_chunks: int | None = None
    lexicon_cost_usd: float | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def estimate(
    plan: BookPlan, *, price_per_million: float, storage: Storage | None, without: BookPlan | None = None
) -> Estimate:
    """What rendering costs; with `storage`, chunks already rendered are looked up and priced at zero.

    `without`: the same book planned without the lexicons being tried, to count the chunks they change.
    """
    chunks = [c for chapter in plan.chapters for c in chapter.chunks]
    total = plan.text_bytes
    cached: int | None = None
    uncached = total
    unique = {c.key: c for c in chunks}
    present = dict.fromkeys(unique, False)
    if storage is not None:
        with ThreadPoolExecutor(max_workers=16) as pool:
            present = dict(zip(unique, pool.map(lambda key: storage.exists(plan.output.bucket, key), unique)))
        cached = sum(1 for c in chunks if present[c.key])
        uncached = sum(len(c.text.encode()) for key, c in unique.items() if not present[key])
    changed: dict[str, int] | None = None
    if without is not None:
        before = {c.key for chapter in without.chapters for c in chapter.chunks}
        changed = {key: len(c.text.encode()) for key, c in unique.items() if key not in before}
    return Estimate(
        chapters=len(plan.chapters),
        chunks=len(chunks),
        text_bytes=total,
        cost_usd=round(total / 1e6 * price_per_million, 4),
        cached_chunks=cached,
        uncached_bytes=uncached,
        uncached_cost_usd=round(uncached / 1e6 * price_per_million, 4),
        audio_seconds=round(sum(len(c.text) for c in chunks) / CHARACTERS_PER_SECOND, 1),
        lexicon_chunks=None if changed is None else sum(1 for c in chunks if c.key in changed),
        lexicon_cost_usd=None
        if changed is None
        else round(sum(size for key, size in changed.items() if not present[key]) / 1e6 * price_per_million, 4),
    )
