"""Where recognition noise ends and a fault begins: every limit the verdict applies, with its default and why.

The defaults let ordinary noise pass (a word misheard or dropped here and there: a recognizer misses 2-5 % of
the words of clean speech) and fail a dropped sentence, a phrase said twice, a garbled name, a cut ending and
a take whose length does not fit its text. Counts are of compared tokens: "1984" is three, "don't" two.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Thresholds:
    # A heard word this similar to the text's (rapidfuzz Indel, 0-1) is the word: "colour"/"color" 0.91,
    # "there"/"their" 0.80, "cat"/"cats" 0.86, but "cat"/"hat" 0.67 is a different word.
    near: float = 0.8
    # Overall: missing, substituted and inserted tokens over the text's, beyond a few in any chunk (a short
    # chunk of 5 words is not failed for one misheard word). Recognition noise on 3 % of the words gives 0.02
    # in a chunk of 20 words or more, 0.09 at the 99th percentile (tests/bench/hearing.py's takes).
    max_error_rate: float = 0.2
    min_errors: int = 3
    # Scattered missing or inserted tokens: a recognizer drops a short word now and then; a voice that skips
    # or adds words throughout a chunk does more than this.
    max_missing_share: float = 0.1
    max_inserted_share: float = 0.05
    # The longest stretch of divergent tokens (one correct word inside it does not end it). Three or four
    # misheard in a row happen with a foreign phrase; five or more is a dropped or garbled passage.
    max_divergent_run: int = 4
    # Tokens heard in a row that the text does not have: a recognizer adds one, sometimes two; three is a
    # hallucination ("thank you for watching").
    max_inserted_run: int = 2
    # A phrase of this many tokens heard twice where the text has it once is a repeat, however short the rest;
    # so is a single word this long (a stutter on "helpeth"; a recognizer adds "the" or "a", not such words).
    min_repeat_words: int = 2
    min_repeat_letters: int = 5
    # A sentence (of two tokens or more; a closed quotation counts as one) with less than this share of its
    # tokens heard was not said. 0.6 fails twice as many clean takes of the benchmark's as 0.5, catching no more.
    min_sentence_coverage: float = 0.5
    # The text's last words not heard, this many of them or more: a cut take. One is a recognizer missing the
    # last word as often as a voice losing it.
    cut_words: int = 2
    # ...or only the last word, when it is this long: a recognizer loses a short last word, not "coal" or "style".
    cut_letters: int = 4
    # A name (a word of four letters or more capitalized inside a sentence) heard as something less similar
    # than this is garbled. Low on purpose: recognizers spell unusual names freely ("Siobhan"/"Shivaun" 0.57);
    # a mumble is far below.
    name_similarity: float = 0.5
    # Any other word heard as a word of this many letters or more this unlike it (letters in common in order,
    # over the longer word's) is garbled: the emulator's recognition noise (a homophone, one letter changed)
    # keeps 0.5 or more; nonsense syllables share next to nothing with the word they replace. A recognizer that
    # writes unrelated words for clearly spoken ones would fail such takes: lower stranger_similarity (0: off).
    stranger_similarity: float = 0.3
    stranger_letters: int = 4
    # Seconds per letter of the spoken text (numbers spelled out; a Chinese or Japanese character counts three),
    # the take's long silences left out (reported on their own). Narration at 150 words a minute runs near 0.08;
    # Fish's speed range 0.5-2 spans about 0.04-0.17. Far outside: a take padded with noise the recognizer did
    # not write down, or one that skipped what it also missed. Judged from this many letters on.
    seconds_per_letter: tuple[float, float] = (0.03, 0.2)
    pace_min_letters: int = 40
    # A silence inside the take, or before its first word or after its last, longer than this (seconds).
    max_silence: float = 3.0
