"""Synthesis settings: checked against the API's ranges, layered, and part of a chunk's content address."""

from __future__ import annotations

import pytest

from producer.submit.synthesis import synthesis_from
from worker import keys
from worker.books.plan import plan_chapter
from worker.contract import ModelVoice, Synthesis
from worker.errors import BadInput
from worker.settings import Settings, default_synthesis

VOICE = ModelVoice(reference_id="7f92f8afb8ec43bf81429cc1c9199cb1")
TEXT = "The first paragraph.\n\nThe second paragraph, a little longer than the first."


def chunk_keys(synthesis: Synthesis) -> list[str]:
    chapter = plan_chapter(
        index=0, title="One", text=TEXT, voice=VOICE, model="s2-pro", max_bytes=400, synthesis=synthesis
    )
    return [chunk.key for chunk in chapter.chunks]


def test_changing_a_setting_re_renders_and_changing_nothing_reuses() -> None:
    normal = Synthesis(latency="normal")
    assert chunk_keys(normal) == chunk_keys(Synthesis(latency="normal"))
    faster = chunk_keys(normal.merged(Synthesis(speed=1.2)))
    assert set(faster).isdisjoint(chunk_keys(normal))
    assert set(chunk_keys(normal.merged(Synthesis(sample_rate=44_100)))).isdisjoint(chunk_keys(normal))


def test_no_settings_keep_the_addresses_chunks_always_had() -> None:
    assert keys.chunk_hash("Words.", voice="v", model="s2-pro", synthesis=Synthesis().address()) == keys.chunk_hash(
        "Words.", voice="v", model="s2-pro"
    )


def test_layers_the_later_wins_and_unset_leaves_the_earlier() -> None:
    environment = default_synthesis(Settings(fish_speed=0.9))
    assert environment == Synthesis(latency="normal", speed=0.9)  # books default to Fish's higher-quality mode
    book = environment.merged(Synthesis(sample_rate=44_100)).merged(Synthesis(speed=1.1, latency="balanced"))
    assert book == Synthesis(latency="balanced", speed=1.1, sample_rate=44_100)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"speed": 3.0}, "--speed 3.0: input should be less than or equal to 2"),
        ({"speed": 0.1}, "--speed 0.1: input should be greater than or equal to 0.5"),
        ({"temperature": 1.5}, "--temperature 1.5"),
        ({"top_p": -0.1}, "--top-p -0.1"),
        ({"latency": "fast"}, "--latency 'fast': input should be 'normal' or 'balanced'"),
    ],
)
def test_values_outside_the_api_ranges_are_refused_with_the_flag(values: dict, message: str) -> None:
    with pytest.raises(BadInput) as caught:
        synthesis_from("books.yaml:3", **values)
    assert str(caught.value).startswith("books.yaml:3: ") and message in str(caught.value)


def test_the_cli_refuses_a_setting_outside_the_range_before_reading_anything(tmp_path) -> None:
    from typer.testing import CliRunner

    from producer.cli.main import app

    book = tmp_path / "b.md"
    book.write_text("# One\n\nWords.\n")
    result = CliRunner().invoke(app, ["estimate", str(book), "--sample-rate", "12345"])
    assert result.exit_code == 2
    assert "--sample-rate 12345" in result.output and "44100" in result.output
