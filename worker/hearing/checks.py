"""The checks a take must pass, each on its own: one overall ratio hides 15 s of garbage in a long chunk.

Each check reads the aligned take (take.py) and returns candidate findings; verdict.py keeps one finding per
fault. Stretches of divergent words are dropped, garbled or inserted passages; a phrase heard twice is a
repeat; every sentence must be heard, and every name; the ending must be there; the take's length and its
silences must fit its text; and overall the words missing, replaced and added must stay few.
"""

from __future__ import annotations

from rapidfuzz.distance import Indel, LCSseq

from worker.hearing.take import Candidate, Finding, Take
from worker.hearing.thresholds import Thresholds

_LONGEST_REPEAT = 24  # tokens: a longer insertion fails as one whatever it repeats
_GAP = 2  # tokens between a phrase and its copy (a word missed or added between them)


def stretches(take: Take, limits: Thresholds) -> list[Candidate]:
    """Stretches of divergent tokens (a single heard word inside one does not end it) too long to be noise."""
    found = []
    for ts, te, hs, he in _stretches(take):
        text_divergent = sum(1 for i in range(ts, te) if take.state[i] != "equal")
        inserted = sum(take.inserted[hs:he])
        heard_divergent = inserted + sum(1 for i in range(ts, te) if take.state[i] == "substituted")
        longest_insert = max((e - s for s, e in _runs(take.inserted[hs:he])), default=0)
        if max(text_divergent, heard_divergent) > limits.max_divergent_run:
            if heard_divergent > 2 * text_divergent:
                kind = "inserted"
            elif text_divergent > 2 * heard_divergent:
                kind = "dropped"
            else:
                kind = "garbled"
        elif longest_insert > limits.max_inserted_run:
            kind = "inserted"
        else:
            continue
        found.append(take.finding(kind, ts, te, heard=(hs, he)))
    return found


def longest_run(take: Take) -> int:
    """The longest stretch of divergent tokens, counted on the side where it is longer."""
    best = 0
    for ts, te, hs, he in _stretches(take):
        substituted = sum(1 for i in range(ts, te) if take.state[i] == "substituted")
        text_divergent = sum(1 for i in range(ts, te) if take.state[i] != "equal")
        best = max(best, text_divergent, substituted + sum(take.inserted[hs:he]))
    return best


def repeats(take: Take, limits: Thresholds) -> list[Candidate]:
    """Heard words the text does not have, heard again right beside them: a phrase said twice."""
    found = []
    for hs, he in _runs(take.inserted):
        copy = _repeated(take, hs, he, limits)
        if copy is not None:
            found.append(_repeat(take, copy))
    return found


def sentences(take: Take, limits: Thresholds) -> list[Candidate]:
    """Sentences most of whose words were not heard: left out (or garbled beyond recognition)."""
    found = []
    sentence_of = [take.written.sentence[w] for w in take.written.origin]
    start = 0
    for end in range(1, len(sentence_of) + 1):
        if end < len(sentence_of) and sentence_of[end] == sentence_of[start]:
            continue
        states = take.state[start:end]
        heard = sum(1 for s in states if s == "equal")
        if len(states) >= 2 and heard < limits.min_sentence_coverage * len(states):
            missing = sum(1 for s in states if s == "missing")
            found.append(take.finding("dropped" if 2 * missing >= len(states) - heard else "garbled", start, end))
        start = end
    return found


def names(take: Take, limits: Thresholds) -> list[Candidate]:
    """Names not heard, or heard as something unlike them: a listener notices a garbled name first."""
    found = []
    tokens, states = take.heard.tokens, take.state
    for first, end in _names(take):
        if all(states[i] == "equal" for i in range(first, end)):
            continue
        if all(states[i] == "missing" for i in range(first, end)):
            found.append(take.finding("dropped", first, end))
            continue
        hs, he = take.heard_span(first, end)
        # a name heard as several words: the words added beside it belong to it
        while hs > 0 and take.inserted[hs - 1]:
            hs -= 1
        while he < len(tokens) and take.inserted[he]:
            he += 1
        said = "".join(take.written.tokens[first:end])
        spans = ((a, b) for a in range(hs, he) for b in range(a + 1, he + 1))
        best = max((Indel.normalized_similarity(said, "".join(tokens[a:b])) for a, b in spans), default=0.0)
        if best < limits.name_similarity:
            found.append(take.finding("garbled", first, end, heard=(hs, he)))
    return found


def strangers(take: Take, limits: Thresholds) -> list[Candidate]:
    """A word heard as a longer word with almost nothing in common with it: a mumble written down.

    Similarity is the letters in common in order over the longer word's: a recognizer's own slips keep most
    ("cloak"/"clock" 0.8, "for"/"four" 0.75); a voice that garbles a word makes syllables with next to nothing
    of it ("dark"/"tutune" 0.0, "Tin"/"Miptrelmip" 0.2)."""
    found = []
    for i, state in enumerate(take.state):
        hs, he = take.heard_of[i]
        if state != "substituted" or he - hs != 1:
            continue
        # the words as written and heard, not their compared forms: "St" is compared as "saint", but it is short
        said, got = _plain(take.written.words[take.written.origin[i]]), _plain(take.heard.words[take.heard.origin[hs]])
        if len(got) >= limits.stranger_letters and LCSseq.normalized_similarity(said, got) < limits.stranger_similarity:
            found.append(take.finding("garbled", i, i + 1))
    return found


def _plain(word: str) -> str:
    return "".join(ch for ch in word.casefold() if ch.isalpha())


def _names(take: Take) -> list[tuple[int, int]]:
    """The text tokens of each name, [first, end)."""
    spans: list[tuple[int, int]] = []
    names, origin = take.written.names, take.written.origin
    for i, word in enumerate(origin):
        if word in names:
            if spans and origin[spans[-1][0]] == word:
                spans[-1] = (spans[-1][0], i + 1)
            else:
                spans.append((i, i + 1))
    return spans


def ending(take: Take, limits: Thresholds) -> list[Candidate]:
    """The text's last words not heard at the end of the take, `cut_words` of them or more (or one long word): it
    was cut."""
    heard = take.words_heard()
    tail = len(heard)
    while tail and heard[tail - 1] is not True:
        tail -= 1
    unheard = sum(1 for h in heard[tail:] if h is False)
    # one last word lost (not misheard: a slip keeps its place) and long enough not to be a recognizer's miss
    last = take.written.words[-1] if take.written.words else ""
    lost = [take.state[i] for i, word in enumerate(take.written.origin) if word == len(heard) - 1]
    long_last = (
        unheard == 1
        and lost
        and all(s == "missing" for s in lost)
        and sum(c.isalpha() for c in last) >= limits.cut_letters
    )
    if not tail or (unheard < limits.cut_words and not long_last):
        return []
    first = next((i for i, word in enumerate(take.written.origin) if word >= tail), len(take.state))
    last_heard = max(i for i, s in enumerate(take.state) if s == "equal")
    heard_from = take.heard_of[last_heard][1]
    return [take.finding("cut", first, len(take.state), heard=(heard_from, len(take.heard.tokens)))]


def pace(take: Take, limits: Thresholds) -> list[Candidate]:
    """Silences where speech should be, and a take far too long or too short for its text (its silences
    reported on their own do not count twice)."""
    found = []
    for before, start, end in silences(take, limits.max_silence):
        at = _text_at(take, before)
        quote = take.text_quote(max(0, at - 1), min(len(take.state), at + 1))
        found.append(Candidate(Finding("pace", quote, "", start, end), (at, at)))
    low, high = limits.seconds_per_letter
    rate = seconds_per_letter(take, limits)
    if take.written.letters >= limits.pace_min_letters and rate and not low <= rate <= high:
        said = Finding("pace", take.written.text, take.heard_quote(0, len(take.heard.tokens)), 0.0, take.seconds)
        found.append(Candidate(said, (0, 0)))  # a fact of its own: it neither hides nor is hidden by another
    return found


def seconds_per_letter(take: Take, limits: Thresholds) -> float:
    """The take's length, less its long silences, over the letters of its text; 0 when either is unknown."""
    silent = sum(end - start for _, start, end in silences(take, limits.max_silence))
    letters = take.written.letters
    return (take.seconds - silent) / letters if letters and take.seconds else 0.0


def silences(take: Take, longest: float) -> list[tuple[int, float, float]]:
    """The silences longer than `longest` seconds (before the first heard segment, between two, after the last),
    each with the segment heard after it and its start and end."""
    times = [t for t in take.heard.times if t is not None]
    if not times or take.seconds <= 0:
        return []
    edges = [(0.0, times[0][0]), *((a[1], b[0]) for a, b in zip(times, times[1:])), (times[-1][1], take.seconds)]
    return [(k, start, end) for k, (start, end) in enumerate(edges) if end - start > longest]


def totals(take: Take, limits: Thresholds) -> list[Candidate]:
    """Words missing, replaced or added scattered through the take, more than noise explains."""
    n, m = len(take.state), len(take.heard.tokens)
    missing, substituted, inserted = take.count("missing"), take.count("substituted"), take.count("inserted")
    found = []
    if missing > max(limits.max_missing_share * n, limits.min_errors):
        quote = " … ".join(take.text_quote(i, i + 1) for i in range(n) if take.state[i] == "missing")
        found.append(Candidate(Finding("dropped", quote, ""), (0, n)))
    if inserted > max(limits.max_inserted_share * n, limits.min_errors):
        added = [j for j in range(m) if take.inserted[j]]
        start, end = take.times(added[0], added[-1] + 1)
        quote = " … ".join(take.heard_quote(j, j + 1) for j in added)
        found.append(Candidate(Finding("inserted", "", quote, start, end), (0, n), (0, m)))
    if n and missing + substituted + inserted > max(limits.max_error_rate * n, limits.min_errors):
        found.append(take.finding("garbled", 0, n, heard=(0, m)))
    return found


def _stretches(take: Take) -> list[tuple[int, int, int, int]]:
    """Maximal stretches of non-equal steps, bridging equal steps of a single text token."""
    out: list[tuple[int, int, int, int]] = []
    current: list[int] | None = None
    steps = take.steps
    for k, step in enumerate(steps):
        if step.kind == "equal":
            island = step.text_end - step.text_start <= 1 and 0 < k < len(steps) - 1
            if current is not None and not island:
                out.append((current[0], current[1], current[2], current[3]))
                current = None
            continue
        if current is None:
            current = [step.text_start, step.text_end, step.heard_start, step.heard_end]
        else:
            current[1], current[3] = step.text_end, step.heard_end
    if current is not None:
        out.append((current[0], current[1], current[2], current[3]))
    return out


def _repeated(take: Take, hs: int, he: int, limits: Thresholds) -> tuple[int, int] | None:
    """The heard tokens of a phrase and its copy beside it, the inserted tokens [hs, he) among them: the longest
    such phrase long enough to count, and half the inserted tokens or more. The copies may be a word or two
    apart, or one a word longer than the other (noise parts them and misses a word), and the alignment may have
    taken any rotation of the phrase as added."""
    tokens, m = take.heard.tokens, len(take.heard.tokens)
    added = [0]  # added[k]: inserted tokens before token k
    for flag in take.inserted:
        added.append(added[-1] + flag)
    # the phrase accounts for half the added tokens or more: a repeat inside a longer babble is the babble
    for size in range(min(he - hs, _LONGEST_REPEAT), (he - hs + 1) // 2 - 1, -1):
        for a in range(max(0, hs - size - _GAP), min(he, m - size) + 1):
            phrase = tokens[a : a + size]
            if size < limits.min_repeat_words and len(phrase[0]) < limits.min_repeat_letters:
                continue
            for q in range(max(0, a - size - _GAP), min(m - size, a + size + _GAP) + 1):
                for length in (size, size + 1) if size > 1 else (size,):
                    if q + length > m or not (q >= a + size or q + length <= a):
                        continue  # past the end, or not apart
                    if phrase[0] != tokens[q] and phrase[-1] != tokens[q + length - 1]:
                        continue  # noise changes a word of a copy, rarely both its first and its last
                    # one of the two is heard where the text has nothing
                    extra = added[a + size] - added[a] + added[q + length] - added[q]
                    if extra >= size and _similar(phrase, tokens[q : q + length], limits.near):
                        return min(a, q), max(a + size, q + length)
    return None


def _repeat(take: Take, window: tuple[int, int]) -> Candidate:
    """Heard tokens `window`, a phrase and its copy: quoted with the text words they stand for."""
    said = [i for i, s in enumerate(take.state) if s == "equal" and _overlap(take.heard_of[i], window)]
    text_start, text_end = (said[0], said[-1] + 1) if said else (0, 0)
    start, end = take.times(*window)
    quote = take.text_quote(text_start, text_end)
    return Candidate(Finding("repeated", quote, take.heard_quote(*window), start, end), (text_start, text_end), window)


def _runs(flags: list[bool]) -> list[tuple[int, int]]:
    """The maximal runs of True in `flags`, as [start, end) pairs."""
    runs: list[tuple[int, int]] = []
    for k, flag in enumerate(flags):
        if flag and runs and runs[-1][1] == k:
            runs[-1] = (runs[-1][0], k + 1)
        elif flag:
            runs.append((k, k + 1))
    return runs


def _text_at(take: Take, segment: int) -> int:
    """The first text token heard at or after segment `segment` (the text's length when none is)."""
    origin, heard = take.heard.origin, len(take.heard.origin)
    for i, (hs, _) in enumerate(take.heard_of):
        if (origin[hs] if hs < heard else len(take.heard.words)) >= segment:
            return i
    return len(take.state)


def _overlap(a: tuple[int, int], b: tuple[int, int]) -> int:
    return max(0, min(a[1], b[1]) - max(a[0], b[0]))


def _similar(a: tuple[str, ...], b: tuple[str, ...], near: float) -> bool:
    return a == b or Indel.normalized_similarity(" ".join(a), " ".join(b)) >= near
