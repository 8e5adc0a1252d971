"""A batch file planned and sent: each voice prepared once, jobs grouped by voice, output and format, nothing sent
before every entry is checked."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from producer.cli import main as cli
from producer.submit import batches, voice_options
from producer.submit.books import BookSubmitter
from producer.submit.clips import PreparedVoice
from producer.submit.jobs import Submitter
from tests.support.batch_files import batch_folder, write_jsonl
from worker.settings import Settings
from worker.storage import Storage


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A batch file's folder with two books, a reference clip and its transcript."""
    return batch_folder(tmp_path)


class CountedClips:
    """Stands in for `prepare_clip_voice`: counts the clips it is asked to read, probe and hash."""

    def __init__(self) -> None:
        self.calls: list[list] = []

    def __call__(self, inputs: list) -> PreparedVoice:
        self.calls.append(inputs)
        return PreparedVoice(
            clips=[], reference_hash=f"voice-{len(self.calls)}", warnings=[f"clip {len(self.calls)} is short"]
        )


def test_each_voice_is_prepared_once_and_jobs_are_grouped_by_voice_output_and_format(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    clips = CountedClips()
    monkeypatch.setattr(voice_options, "prepare_clip_voice", clips)
    narrator = {"voice": "clips/narrator.wav", "transcript": "Exact words."}
    path = write_jsonl(
        folder,
        *({"text": f"Headline {n}.", "out": f"s3://news/{'ab'[n % 2]}", **narrator} for n in range(200)),
        {"file": "two.md", "out": "s3://books/two", **narrator},
        {"text": "By id.", "out": "s3://news/a", "voice_id": "7f92f8af", "format": "wav"},
        {
            "text": "Same clip, transcript from a file.",
            "out": "s3://news/a",
            "voice": "clips/narrator.wav",
            "transcript_file": "clips/narrator.txt",
        },
    )
    warned: list[str] = []
    work = batches.plan_work(
        Settings(), [path], out="s3://unused", fmt="mp3", cli_voice=(None, None, None, None), warn=warned.append
    )

    assert [[str(clip.path), clip.transcript] for [clip] in clips.calls] == [
        [str(folder / "clips" / "narrator.wav"), "Exact words."]
    ] * 2
    assert sum("is short" in w for w in warned) == 2  # each voice's warnings once, not once per entry
    groups = [
        (g.out, g.fmt, g.voice if isinstance(g.voice, str) else g.voice.reference_hash, len(g.sources))
        for g in work.job_groups.values()
    ]
    assert groups == [
        ("s3://news/a", "mp3", "voice-1", 100),
        ("s3://news/b", "mp3", "voice-1", 100),
        ("s3://news/a", "wav", "7f92f8af", 1),
        ("s3://news/a", "mp3", "voice-2", 1),
    ]
    first = next(iter(work.job_groups.values()))
    assert [s.name for s in first.sources[:2]] == ["books.jsonl:1", "books.jsonl:3"] and first.positions[:2] == [0, 2]
    assert first.sources[0].text == "Headline 0."
    [book] = work.books
    assert (book.book.source, book.voice, book.out, book.fmt, book.preset) == (
        "two.md",
        first.voice,
        "s3://books/two",
        "mp3",
        None,
    )
    assert work.job_count == 202 and set(work.outputs) == {"s3://news/a", "s3://news/b", "s3://books/two"}

    class OneCallPerGroup:
        calls: list[tuple[str, str, int]] = []

        def submit(
            self, *, sources: list, voice: object, out: str, fmt: str, synthesis: object, lexicons: object, **_: object
        ) -> list[str]:
            self.calls.append((out, fmt, len(sources)))
            return [source.name for source in sources]  # stands in for the jobs

    monkeypatch.setattr(Submitter, "from_settings", lambda settings: OneCallPerGroup())
    in_order = batches.submit_job_groups(Settings(), work)
    assert OneCallPerGroup.calls == [
        ("s3://news/a", "mp3", 100),
        ("s3://news/b", "mp3", 100),
        ("s3://news/a", "wav", 1),
        ("s3://news/a", "mp3", 1),
    ]
    assert in_order[:3] == ["books.jsonl:1", "books.jsonl:2", "books.jsonl:3"] and in_order[-2:] == [
        "books.jsonl:202",
        "books.jsonl:203",
    ]


def test_a_bad_last_entry_stops_the_batch_file_before_anything_is_sent(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def nothing_may_be_sent(*args: object, **kwargs: object) -> None:
        raise AssertionError("something was sent before every entry was checked")

    for owner in (Submitter, BookSubmitter, Storage):
        monkeypatch.setattr(owner, "from_settings", nothing_may_be_sent)
    path = write_jsonl(
        folder,
        {"file": "two.md", "out": "s3://books/two", "voice_id": "7f92f8af"},
        {"text": "Fine.", "out": "s3://news", "voice_id": "7f92f8af"},
        {"text": "Its voice is not.", "out": "s3://news", "voice": "clips/narrator.wav", "transcript": "  "},
    )
    result = CliRunner().invoke(cli.app, ["submit", path, "--out", "s3://unused"])
    assert result.exit_code == 2, result.output
    assert "books.jsonl: line 3: the transcript is empty" in result.stderr


def test_out_is_required_unless_every_file_is_a_batch_file(folder: Path) -> None:
    (folder / "story.txt").write_text("Once.", encoding="utf-8")
    result = CliRunner().invoke(cli.app, ["submit", str(folder / "story.txt"), "--voice-id", "7f92f8af"])
    assert result.exit_code == 2 and "--out is required" in result.stderr
