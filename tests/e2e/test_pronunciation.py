"""Pronunciation end to end: a lexicon edit re-renders exactly the chunks holding its words, as the estimate said;
`narrate say`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import pytest
from typer.testing import CliRunner

from producer.cli.main import app
from tests.e2e.conftest import load, tts_texts, wait_book
from worker import keys
from worker.settings import Settings

pytestmark = pytest.mark.e2e
runner = CliRunner()

BOOK = """# The Owl

Hermione laughed at the joke.

The owl flew over the lake.

Ron and Hermione walked on.

# The Castle

The castle was dark.

Nobody spoke for a while.

Hermione's wand glowed.
"""


def invoke(*args: str) -> dict | list:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class TestOnOneWorker:
    """Both tests on one worker, started once; each has Redis flushed and a bucket of its own."""

    def test_an_edited_entry_re_renders_exactly_the_chunks_with_its_word(
        self, book_worker, book_env, bucket, emulator, reference_clip, tmp_path
    ) -> None:  # noqa: F811
        book = tmp_path / "owl.md"
        book.write_text(BOOK)
        clip, words = reference_clip
        voice = ["--voice", str(clip), "--transcript", words, "--out", f"s3://{bucket}/owl"]
        first = invoke("book", str(book), *voice)
        wait_book(first["book_id"])
        rendered = len(tts_texts(emulator))
        assert rendered == 6  # one chunk per paragraph

        names = tmp_path / "names.yaml"
        names.write_text("Hermione: Her-my-oh-nee\n")
        [estimate] = invoke("estimate", str(book), *voice, "--lexicon", str(names))
        price = Settings().price_per_million_bytes
        changed = [
            "Her-my-oh-nee laughed at the joke.",
            "Ron and Her-my-oh-nee walked on.",
            "Her-my-oh-nee's wand glowed.",
        ]
        assert estimate["lexicon_chunks"] == estimate["chunks"] - estimate["cached_chunks"] == 3
        assert estimate["lexicon_cost_usd"] == round(sum(len(t.encode()) for t in changed) / 1e6 * price, 4)

        second = invoke("book", str(book), *voice, "--lexicon", str(names))
        wait_book(second["book_id"])
        assert sorted(tts_texts(emulator)[rendered:]) == sorted(changed)  # exactly the three, and nothing else
        rendered = len(tts_texts(emulator))
        manifest = json.loads(load(bucket, keys.book_manifest("owl", second["book_id"])))
        assert [[c["entries"] for c in chapter["lexicon"]] for chapter in manifest["chapters"]] == [
            [["Hermione"], ["Hermione"]],
            [["Hermione"]],
        ]
        assert [lexicon["name"] for lexicon in manifest["lexicons"]] == ["names.yaml"]
        assert manifest["chunks"]["reused"] == 3

        # One entry edited, one added: the estimate names the chunks and the cost, and the render pays exactly those.
        names.write_text("Hermione: Her-mine-ee\nowl: howl\n")
        edited = [
            "Her-mine-ee laughed at the joke.",
            "Ron and Her-mine-ee walked on.",
            "Her-mine-ee's wand glowed.",
            "The howl flew over the lake.",
        ]
        [estimate] = invoke("estimate", str(book), *voice, "--lexicon", str(names))
        assert estimate["lexicon_chunks"] == 4
        assert (
            estimate["lexicon_cost_usd"]
            == estimate["uncached_cost_usd"]
            == round(sum(len(t.encode()) for t in edited) / 1e6 * price, 4)
        )
        third = invoke("book", str(book), *voice, "--lexicon", str(names))
        wait_book(third["book_id"])
        assert sorted(tts_texts(emulator)[rendered:]) == sorted(edited)
        # "The Owl" is a chapter title, not narrated text; the chapter's words changed, its title did not
        manifest = json.loads(load(bucket, keys.book_manifest("owl", third["book_id"])))
        assert [c["title"] for c in manifest["chapters"]] == ["The Owl", "The Castle"]

    def test_say_renders_one_line_with_the_named_voices_lexicon(
        self, book_worker, book_env, bucket, emulator, reference_clip, tmp_path
    ) -> None:  # noqa: F811
        clip, words = reference_clip
        added = runner.invoke(
            app, ["voices", "add", "narrator", "--clip", str(clip), "--transcript", words, "--bucket", f"s3://{bucket}"]
        )
        assert added.exit_code == 0, added.output
        names = tmp_path / "names.pls"
        names.write_text(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<lexicon version="1.0" xmlns="http://www.w3.org/2005/01/pronunciation-lexicon"'
            ' alphabet="ipa" xml:lang="en-US">\n'
            "  <lexeme><grapheme>Hermione</grapheme><alias>Her-my-oh-nee</alias></lexeme>\n"
            "</lexicon>\n"
        )
        updated = runner.invoke(app, ["voices", "update", "narrator", "--lexicon", str(names)])
        assert updated.exit_code == 0, updated.output
        extra = tmp_path / "extra.csv"
        extra.write_text("word,say\nlaughed,chuckled\n")
        saved = tmp_path / "line.wav"
        said = invoke(
            "say",
            "Hermione laughed at https://example.com/Hermione.",
            "--voice",
            "narrator",
            "--lexicon",
            str(extra),
            "--out",
            f"s3://{bucket}/tries",
            "--save",
            str(saved),
            "--format",
            "wav",
        )
        # the voice's lexicon, then the line's; never inside a URL
        heard = "Her-my-oh-nee chuckled at https://example.com/Hermione."
        assert said["fish_read"] == heard and said["entries"] == ["Hermione", "laughed"]
        assert tts_texts(emulator)[-1] == heard
        with av.open(io.BytesIO(saved.read_bytes())) as container:
            assert container.duration and container.duration > 0
        job = json.loads(load(bucket, keys.output_manifest("tries", said["job_id"])))
        assert job["requests"][0]["lexicon"] == ["Hermione", "laughed"]
        shown = invoke("voices", "show", "narrator")
        assert [lexicon["name"] for lexicon in shown["lexicons"]] == ["names.pls"]
        assert shown["uses"] == 1 and shown["one_shot_uses"] == 1  # a line said is a use of the voice like any request
        assert Path(saved).stat().st_size > 1000
