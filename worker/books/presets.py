"""Presets: how a book's audio is made for where it goes, chosen with one word.

Every preset masters the same way (high-pass, gain to the RMS target, a peak
limiter) and fills pauses, heads and tails with room tone. `acx` adds what the
audiobook store's submission rules ask: MP3 at 44.1 kHz, 192 kbps constant bit
rate, mono, with Fish asked for 44.1 kHz audio; no file over 120 minutes; opening
and closing credits as files of their own; a retail sample of 1 to 5 minutes.

Proof-listening (`qc`) defaults by preset, when neither `--qc` nor NARRATE_QC says: a store submission
retakes what drifted, because an unheard fault found after publication costs a rejected title or refunds,
and hearing costs about $0.36 an audio hour against Fish's ~$1.2 for speaking it; a standard book reports,
so a person knows which seconds to listen to, for the price of hearing alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.contract import QcMode, Synthesis


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    format: str | None = None  # None: the format asked for (--format)
    bit_rate: int | None = None  # None: the format's default
    synthesis: Synthesis = Synthesis()
    credits: bool = False  # opening and closing credits, each a file of its own
    max_chapter_minutes: float | None = None  # longer chapters are split at paragraph boundaries
    retail_sample_seconds: tuple[float, float] | None = None  # (at least, at most) from the first body chapter
    qc: QcMode = "report"  # proof-listening when nothing else chooses (see above)


PRESETS = {
    preset.name: preset
    for preset in (
        Preset("standard", "mastered to -20 dB RMS, peaks under -4 dB, room tone; the format asked for at Fish's rate"),
        Preset(
            "acx",
            "standard, as MP3 44.1 kHz 192 kbps CBR mono, chapters of at most 120 minutes, opening and closing"
            " credits, a retail sample: the audiobook store's rules",
            format="mp3",
            bit_rate=192_000,
            synthesis=Synthesis(sample_rate=44_100),
            credits=True,
            max_chapter_minutes=120,
            retail_sample_seconds=(60, 300),
            qc="retake",
        ),
    )
}
DEFAULT_PRESET = "standard"


def preset_named(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown preset {name!r}; use one of {', '.join(PRESETS)}") from None
