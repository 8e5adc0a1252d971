"""What Fish's speech-to-text heard, as a value: word times read in seconds whatever unit Fish answers in, per-second
billing, and the limits checked before any request."""

from __future__ import annotations

import pytest

from worker.errors import CannotHear, PermanentError
from worker.fish.heard import MAX_BYTES, Heard, check_hearable, in_seconds, seconds_billed

IN_SECONDS = (("Once", 0.12, 0.41), ("upon", 0.45, 0.8), ("a", 0.82, 0.9), ("time.", 0.95, 1.6))


def test_times_in_seconds_are_kept() -> None:
    assert in_seconds(IN_SECONDS, audio_seconds=1.7) == IN_SECONDS


def test_times_that_only_fit_as_milliseconds_are_scaled_to_seconds() -> None:
    in_ms = (("Once", 120, 410), ("upon", 450, 800), ("a", 820, 900), ("time.", 950, 1600))
    assert in_seconds(in_ms, audio_seconds=1.7) == IN_SECONDS


def test_a_long_take_in_seconds_is_not_mistaken_for_milliseconds() -> None:
    # 62 s of audio: its last word ends near 61.9 s, which is no millisecond reading of anything in the audio
    words = (("first", 0.2, 0.6), ("last", 61.5, 61.9))
    assert in_seconds(words, audio_seconds=62.0) == words


def test_a_time_a_little_past_the_end_is_kept_inside_the_audio() -> None:
    assert in_seconds((("end.", 1.5, 1.72),), audio_seconds=1.7) == (("end.", 1.5, 1.7),)


def test_times_that_fit_neither_reading_are_clamped_to_the_audio() -> None:
    heard = in_seconds((("odd", -0.5, 0.4), ("far", 8000.0, 9500.0)), audio_seconds=3.0)
    assert heard == (("odd", 0.0, 0.4), ("far", 3.0, 3.0))


def test_word_text_is_trimmed_and_empty_segments_dropped() -> None:
    assert in_seconds(((" Once ", 0.1, 0.4), (" ", 0.4, 0.5)), audio_seconds=2.0) == (("Once", 0.1, 0.4),)
    assert in_seconds((), audio_seconds=2.0) == ()


@pytest.mark.parametrize(("seconds", "billed"), [(1.0, 1), (1.001, 2), (2.0000001, 2), (59.5, 60), (3600.0, 3600)])
def test_billing_is_per_second_rounded_up(seconds: float, billed: int) -> None:
    assert seconds_billed(seconds) == billed


@pytest.mark.parametrize(
    ("size", "seconds", "said"),
    [
        (16_000, 0.5, "cannot hear 0.50 s of audio: Fish's speech-to-text takes at least 1 s"),
        (16_000, 3601.0, "cannot hear 60.0 min of audio: Fish's speech-to-text takes at most 60 min a file"),
        (
            MAX_BYTES + 1,
            120.0,
            "cannot hear 20,000,001 bytes of audio: Fish's speech-to-text takes at most 20 MB a file",
        ),
    ],
)
def test_audio_fish_does_not_take_is_refused_saying_what_and_why(size: int, seconds: float, said: str) -> None:
    with pytest.raises(CannotHear) as refused:
        check_hearable(b"\0" * size, audio_seconds=seconds)
    assert str(refused.value) == said
    assert isinstance(refused.value, PermanentError)


def test_audio_at_the_limits_is_taken() -> None:
    check_hearable(b"\0" * MAX_BYTES, audio_seconds=1.0)
    check_hearable(b"\0" * 16, audio_seconds=3600.0)


def test_heard_goes_to_json_in_fishs_shape_and_back() -> None:
    heard = Heard(text="Once upon a time.", words=IN_SECONDS, audio_seconds=1.7, seconds_billed=2, latency_seconds=0.3)
    data = heard.to_json()
    assert data["text"] == "Once upon a time." and data["duration"] == 1.7
    assert data["segments"][0] == {"text": "Once", "start": 0.12, "end": 0.41}
    assert Heard.from_json(data) == heard
