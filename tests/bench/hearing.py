"""Proof-listening's comparison on its own: worker CPU to judge one take, and how it sorts noise from faults.

No stack: the comparison is pure (worker/hearing/). The takes are simulated from the sample book's chunks
(hearing_takes.py): a recognizer's noise on every take, and one fault a voice makes on the faulted ones.

- CPU: process time to judge one take of a chunk of 900-1,000 bytes, with the word cache emptied before each
  (a worker's first take of a book: later takes reuse the words already normalized).
- Clean takes failed: takes with recognition noise on 3 % of their words that the verdict fails (each would be
  taken again for nothing). The noise is a recognizer's slips (a letter misheard, a short word missed or
  added); a second figure, with no target, adds words written as unrelated words, which the check for garbled
  words (`stranger_similarity`) cannot tell from a mumble.
- Faulted takes caught: takes that drop, repeat or garble a sentence or lose their end, with the same noise,
  that the verdict fails.

These figures are from simulated transcripts; the emulator's, through real workers, come with the retake loop.

    python -m tests.bench.hearing [RUNS]
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from tests.bench.harness import Figure, log, report, runs_from_argv
from tests.bench.hearing_takes import FAULTS, book_chunks, faultable, faulted, heard
from worker.hearing import judge, words

NOISE = 0.03
LANGUAGE = "en"


def cpu_ms(chunks: list[str], rng: random.Random) -> float:
    """Median process time (ms) to judge one take of each chunk, none of its words normalized before."""
    takes = [(chunk, heard(chunk.split(), noise=NOISE, rng=rng)) for chunk in chunks]
    spent = []
    for chunk, take in takes:
        words._word_tokens.cache_clear()  # noqa: SLF001 - the benchmark measures the uncached path
        started = time.process_time()
        judge(chunk, take, language=LANGUAGE)
        spent.append((time.process_time() - started) * 1000)
    return sorted(spent)[len(spent) // 2]


def clean_failed(chunks: list[str], rng: random.Random, *, unrelated: bool) -> float:
    """The share of clean takes failed (percent)."""
    takes = [(c, heard(c.split(), noise=NOISE, rng=rng, unrelated=unrelated)) for c in chunks]
    return 100 * sum(not judge(c, t, language=LANGUAGE).passed for c, t in takes) / len(chunks)


def sorted_takes(chunks: list[str], rng: random.Random) -> tuple[float, dict[str, float]]:
    """The share of clean takes failed, and for each fault the share of faulted takes caught (percent)."""
    clean = clean_failed(chunks, rng, unrelated=False)
    caught = {}
    for fault in FAULTS:
        able = [c for c in chunks if faultable(c)]
        takes = [(c, heard(faulted(c, fault, rng=rng), noise=NOISE, rng=rng)) for c in able]
        caught[fault] = 100 * sum(not judge(c, t, language=LANGUAGE).passed for c, t in takes) / len(takes)
    return clean, caught


def main() -> list[Figure]:
    runs = runs_from_argv()
    chunks = book_chunks()
    long = [c for c in chunks if len(c.encode()) >= 900]
    cpu, failed, failed_unrelated, caught_all = [], [], [], []
    by_fault: dict[str, list[float]] = {fault: [] for fault in FAULTS}
    for run in range(1, runs + 1):
        rng = random.Random(run)
        cpu.append(cpu_ms(long, rng))
        clean, caught = sorted_takes(chunks, rng)
        failed.append(clean)
        failed_unrelated.append(clean_failed(chunks, rng, unrelated=True))
        caught_all.append(min(caught.values()))
        for fault, share in caught.items():
            by_fault[fault].append(share)
        log(f"hearing run {run}/{runs}: {cpu[-1]:.2f} ms a take, {clean:.2f} % clean failed, caught {caught}")
    scenario = "6 proof-listening (simulated takes)"
    median = {fault: round(sorted(v)[len(v) // 2], 2) for fault, v in by_fault.items()}
    return [
        Figure(
            scenario,
            "worker CPU to judge one take",
            "ms",
            cpu,
            target="< 5",
            note=f"median of {len(long)} chunks of 900-1,000 bytes, each with the word cache emptied",
        ),
        Figure(
            scenario,
            "clean takes failed (3 % noise)",
            "%",
            failed,
            target="<= 1",
            note=f"{len(chunks)} chunks, a recognizer's slips on 3 % of the words",
        ),
        Figure(
            scenario,
            "clean takes failed (3 % noise, some unrelated words)",
            "%",
            failed_unrelated,
            note="a fifth of the slips written as unrelated words: each reads as a garbled word",
        ),
        Figure(
            scenario,
            "faulted takes caught (worst fault)",
            "%",
            caught_all,
            target=">= 99",
            note="drop, repeat, garble a sentence or cut the end, with the same noise; per fault: "
            + ", ".join(f"{fault} {share} %" for fault, share in median.items()),
            extra=median,
        ),
    ]


if __name__ == "__main__":
    started = time.monotonic()
    report(main(), path=Path("bench-results-hearing.json"), started=started)
