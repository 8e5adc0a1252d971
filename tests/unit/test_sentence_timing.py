"""Sentence times from a take's heard words, sentence starts through the lexicon, and sentence subtitles."""

from __future__ import annotations

from worker.books.narrated import chunk_starts, replaced_starts
from worker.books.subtitles import LINE, LINES, sentence_cues
from worker.hearing import Segment, Transcript
from worker.hearing.timing import span_times
from worker.text.lexicon import Entry, Lexicon
from worker.text.sentences import sentence_spans

TEXT = "The cat sat. It was Mr. Brown's cat! Then it left."
HEARD = [
    ("the", 0.1, 0.3),
    ("cat", 0.35, 0.6),
    ("sat", 0.65, 0.9),
    ("it", 1.3, 1.4),
    ("was", 1.45, 1.6),
    ("mister", 1.65, 1.9),
    ("browns", 1.95, 2.3),
    ("cat", 2.35, 2.6),
    ("then", 3.0, 3.2),
    ("it", 3.25, 3.3),
    ("left", 3.35, 3.6),
]


def transcript(words: list[tuple[str, float, float]], seconds: float = 4.0) -> Transcript:
    return Transcript(" ".join(w for w, _, _ in words), seconds, tuple(Segment(*w) for w in words))


def test_each_sentence_runs_from_its_first_heard_word_to_its_last() -> None:
    times = span_times(TEXT, transcript(HEARD), sentence_spans(TEXT, language="en"), seconds=4.0, language="en")

    assert [(t.start, t.end, t.placed) for t in times] == [(0.1, 0.9, True), (1.3, 2.6, True), (3.0, 3.6, True)]


def test_a_sentence_whose_end_was_not_heard_is_placed_between_its_neighbours_and_marked() -> None:
    dropped = [w for w in HEARD if w[0] != "left"]
    times = span_times(TEXT, transcript(dropped), sentence_spans(TEXT, language="en"), seconds=4.0, language="en")

    assert times[2].start == 3.0 and 3.3 < times[2].end <= 4.0 and not times[2].placed
    assert times[0].placed and times[1].placed


def test_a_take_never_heard_is_spread_over_its_length_by_letters() -> None:
    times = span_times(TEXT, None, sentence_spans(TEXT, language="en"), seconds=5.0, language="en")

    assert times[0].start == 0.0 and abs(times[-1].end - 5.0) < 1e-9
    assert all(not t.placed for t in times)
    assert all(a.end <= b.start + 1e-9 for a, b in zip(times, times[1:]))
    assert times[1].end - times[1].start > times[0].end - times[0].start  # longer sentence, more time


def test_sentence_starts_follow_the_lexicon_into_the_text_fish_is_given() -> None:
    lexicon = Lexicon([Entry(word="Hermione", say="Her-my-oh-nee")])
    original = "Hermione ran. Hermione laughed. Then she stopped."
    replaced = lexicon.apply(original).text

    starts = replaced_starts(original, replaced, lexicon=lexicon, language="en")

    assert [replaced[s:].split(".")[0] for s in starts] == [
        "Her-my-oh-nee ran",
        "Her-my-oh-nee laughed",
        "Then she stopped",
    ]


def test_a_chunk_cut_inside_a_sentence_has_no_start_at_its_first_character() -> None:
    paragraph = "One two three. Four five six seven eight."
    starts = [a for a, _ in sentence_spans(paragraph)]

    assert chunk_starts(["One two three. Four five", "six seven eight."], paragraph, starts) == [[0, 15], []]


def test_a_long_sentence_becomes_cues_of_two_lines_of_42_characters_cut_at_clauses() -> None:
    text = (
        "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of"
        " foolishness, it was the epoch of belief, it was the epoch of incredulity."
    )
    cues = sentence_cues(text, 10.0, 30.0)

    assert len(cues) > 1
    assert all(len(c.text.split("\n")) <= LINES and all(len(line) <= LINE for line in c.text.split("\n")) for c in cues)
    assert all(c.text.rstrip().endswith((",", ".")) for c in cues)  # each cut at a clause
    assert " ".join(c.text.replace("\n", " ") for c in cues) == text
    assert cues[0].start == 10.0 and abs(cues[-1].end - 30.0) < 1e-9
    assert all(a.end == b.start for a, b in zip(cues, cues[1:]))


def test_a_short_sentence_is_one_cue() -> None:
    assert [(c.start, c.end, c.text) for c in sentence_cues("Short one.", 1.0, 2.0)] == [(1.0, 2.0, "Short one.")]
