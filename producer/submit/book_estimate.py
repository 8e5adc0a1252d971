"""What a book costs and how long it plays, before anything is rendered: chunks already in S3 are priced at zero."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass

from producer.submit.bookparts import CHARACTERS_PER_SECOND
from worker.books.plan import BookPlan
from worker.contract import QualityCheck
from worker.errors import BadInput
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
    # Proof-listening (the plan's mode): hearing back what is still to render, and under retake the share of it
    # expected to be spoken and heard again (NARRATE_QC_EXPECTED_RETAKE_SHARE); both 0 when off.
    qc: str = "off"
    asr_cost_usd: float = 0.0
    expected_retake_cost_usd: float = 0.0

    @property
    def total_cost_usd(self) -> float:
        """What is still to pay: speaking what is not yet rendered, hearing it back, the retakes expected."""
        return round(self.uncached_cost_usd + self.asr_cost_usd + self.expected_retake_cost_usd, 4)

    def as_dict(self) -> dict:
        return {**asdict(self), "total_cost_usd": self.total_cost_usd}

    def check_budget(self, budget_usd: float | None, *, where: str) -> None:
        """BadInput when the total still to pay exceeds `budget_usd` (`--budget`), saying what it is made of."""
        if budget_usd is None or self.total_cost_usd <= budget_usd:
            return
        made_of = f"{self.uncached_bytes:,} bytes not yet rendered"
        if self.qc != "off":
            made_of += (
                f": ${self.uncached_cost_usd:.2f} to speak them, ${self.asr_cost_usd:.2f} to hear them back"
                f" and ${self.expected_retake_cost_usd:.2f} expected for retakes, with --qc {self.qc}"
            )
        fix = "raise the budget or split the book" + ("" if self.qc == "off" else ", or hear less (--qc report, off)")
        raise BadInput(
            f"{where}: the estimate is ${self.total_cost_usd:.2f} ({made_of}), over --budget ${budget_usd:.2f}; {fix}"
        )


def hearing_costs(
    qc: QualityCheck, *, audio_seconds: float, speaking_usd: float, asr_per_hour: float, retake_share: float
) -> tuple[float, float]:
    """USD to hear back `audio_seconds` of takes, and the retakes expected of them, for work whose speaking costs
    `speaking_usd`: nothing when off; under retake, `retake_share` of speaking and hearing it all again."""
    if qc.mode == "off":
        return 0.0, 0.0
    hearing = audio_seconds * asr_per_hour / 3600
    retaking = retake_share * (speaking_usd + hearing) if qc.mode == "retake" and qc.retakes else 0.0
    return hearing, retaking


def estimate(
    plan: BookPlan,
    *,
    price_per_million: float,
    storage: Storage | None,
    without: BookPlan | None = None,
    asr_per_hour: float,
    retake_share: float,
) -> Estimate:
    """What rendering costs; with `storage`, chunks already rendered are looked up and priced at zero.

    `without`: the same book planned without the lexicons being tried, to count the chunks they change.
    `asr_per_hour`, `retake_share`: NARRATE_ASR_PRICE_PER_HOUR and NARRATE_QC_EXPECTED_RETAKE_SHARE, for the plan's
    proof-listening of the chunks still to render.
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
    rendered = chunks if storage is None else [c for key, c in unique.items() if not present[key]]
    speaking = uncached / 1e6 * price_per_million
    hearing, retaking = hearing_costs(
        plan.qc,
        audio_seconds=sum(len(c.text) for c in rendered) / CHARACTERS_PER_SECOND,
        speaking_usd=speaking,
        asr_per_hour=asr_per_hour,
        retake_share=retake_share,
    )
    return Estimate(
        chapters=len(plan.chapters),
        chunks=len(chunks),
        text_bytes=total,
        cost_usd=round(total / 1e6 * price_per_million, 4),
        cached_chunks=cached,
        uncached_bytes=uncached,
        uncached_cost_usd=round(speaking, 4),
        audio_seconds=round(sum(len(c.text) for c in chunks) / CHARACTERS_PER_SECOND, 1),
        lexicon_chunks=None if changed is None else sum(1 for c in chunks if c.key in changed),
        lexicon_cost_usd=None
        if changed is None
        else round(sum(size for key, size in changed.items() if not present[key]) / 1e6 * price_per_million, 4),
        qc=plan.qc.mode,
        asr_cost_usd=round(hearing, 4),
        expected_retake_cost_usd=round(retaking, 4),
    )
