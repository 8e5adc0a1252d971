import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from producer.cli import main as cli
from producer.readers.batch import BATCH_SUFFIXES, BatchEntry, read_batch, read_placed_batch
from producer.submit import batches, voice_options
from producer.submit.books import BookSubmitter
from producer.submit.clips import PreparedVoice
from producer.submit.jobs import Submitter
from worker.errors import BadInput
from worker.settings import Settings
from worker.storage import Storage


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A batch file's folder with two books, a reference clip and its transcript."""
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "one.epub").write_bytes(b"epub")
    (tmp_path / "two.md").write_text("# Two\n\nText.\n", encoding="utf-8")
    (tmp_path / "clips").mkdir()
    (tmp_path / "clips" / "narrator.wav").write_bytes(b"RIFF")
    (tmp_path / "clips" / "narrator.txt").write_text("Exact words.", encoding="utf-8")
    return tmp_path


def write_jsonl(folder: Path, *lines: object, name: str = "books.jsonl") -> str:
    text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def write_yaml(folder: Path, text: str, name: str = "books.yaml") -> str:
    (folder / name).write_text(text, encoding="utf-8")
    return str(folder / name)


def test_jsonl_batch_file_resolves_paths_and_fills_defaults(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")  # paths are relative to the batch file, not to the current directory
    path = write_jsonl(
        folder,
        "# audiobooks for the spring catalogue",
        {
            "file": "books/one.epub",
            "out": "s3://audio/one",
            "voice": "clips/narrator.wav",
            "transcript_file": "clips/narrator.txt",
        },
        "",
        {"file": "two.md", "out": "s3://audio", "voice": "Morgan", "format": "opus", "title": "Second"},
        {"file": str(folder / "two.md"), "out": "s3://audio/three", "voice_id": "7f92f8af", "format": "wav"},
    )
    one, two, three = read_batch(path)
    assert one == BatchEntry(
        file=folder / "books" / "one.epub",
        out="s3://audio/one",
        format="mp3",
        voice=str(folder / "clips" / "narrator.wav"),
        transcript_file=folder / "clips" / "narrator.txt",
    )
    assert (one.transcript, one.voice_id, one.title) == (None, None, None)
    assert (two.file, two.voice, two.format, two.title) == (folder / "two.md", "Morgan", "opus", "Second")
    assert (three.file, three.voice_id, three.voice, three.format) == (folder / "two.md", "7f92f8af", None, "wav")


def test_yaml_batch_file_as_list_and_as_books_mapping(folder: Path) -> None:
    listed = write_yaml(
        folder, "- file: two.md\n  out: s3://audio/two\n  voice: clips/narrator.wav\n  transcript: Exact words.\n"
    )
    mapped = write_yaml(
        folder, "books:\n  - {file: books/one.epub, out: 's3://audio', voice_id: abc, title: 1984}\n", name="more.yml"
    )
    (entry,) = read_batch(listed)
    assert (entry.file, entry.voice, entry.transcript) == (
        folder / "two.md",
        str(folder / "clips" / "narrator.wav"),
        "Exact words.",
    )
    (entry,) = read_batch(mapped)
    assert (entry.file, entry.voice_id, entry.format) == (folder / "books" / "one.epub", "abc", "mp3")
    assert entry.title == "1984"  # YAML reads it as a number
    assert BATCH_SUFFIXES == (".jsonl", ".yaml", ".yml")


def test_invalid_json_names_the_line(folder: Path) -> None:
    path = write_jsonl(folder, {"file": "two.md", "out": "s3://a", "voice": "V"}, "", '{"file": "two.md", "out": ')
    with pytest.raises(BadInput, match=r"books\.jsonl: line 3: invalid JSON \(.*column \d+\); write one JSON object"):
        read_batch(path)


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (["two.md"], r"line 1: expected a mapping of fields, got list"),
        (
            {"file": "two.md", "out": "s3://a", "voice": "V", "pitch": 2},
            r"line 1: unknown field `pitch`; the fields are file, text, out, format",
        ),
        (
            {"out": "s3://a", "voice": "V"},
            r"line 1: nothing to narrate; add `file` \(a book.*\) or `text` \(the words of one narration job\)",
        ),
        (
            {"file": "two.md", "text": "Hi.", "out": "s3://a", "voice": "V"},
            r"line 1: both `file` and `text` are set; keep `file` for a book or `text`",
        ),
        (
            {"text": " \n\t", "out": "s3://a", "voice": "V"},
            r"line 1: `text`: the text is empty or only whitespace; write the words",
        ),
        (
            {"text": "Ring\x07.", "out": "s3://a", "voice": "V"},
            r"line 1: `text`: the text contains control character U\+0007 at character 4",
        ),
        ({"text": "Hi.", "out": "s3://a"}, r"line 1: no voice; add `voice`"),
        (
            {"text": "Hi.", "out": "s3://a", "voice_id": "7f92 f8af"},
            r"line 1: `voice_id`: '7f92 f8af' is not a Fish voice id \(string should match",
        ),
        ({"file": "two.md", "voice": "V"}, r"line 1: missing `out`; add it"),
        (
            {"file": "two.md", "out": "s3://a", "voice": "V", "format": "flac"},
            r"line 1: `format` is 'flac'; use one of 'mp3', 'wav' or 'opus'",
        ),
        (
            {"file": "two.md", "out": "s3://a", "voice": "V", "voice_id": "x"},
            r"line 1: both `voice` and `voice_id` are set; keep one",
        ),
        ({"file": "two.md", "out": "s3://a"}, r"line 1: no voice; add `voice`"),
        (
            {
                "file": "two.md",
                "out": "s3://a",
                "voice": "V",
                "transcript": "t",
                "transcript_file": "clips/narrator.txt",
            },
            r"line 1: both `transcript` and `transcript_file` are set",
        ),
        (
            {"file": "two.md", "out": "s3://a", "voice_id": "x", "transcript": "t"},
            r"line 1: `transcript`/`transcript_file` only go with a `voice` clip",
        ),
        (
            {"file": "two.md", "out": "bucket/prefix", "voice": "V"},
            r"line 1: `out`: 'bucket/prefix' is not an S3 URL; write it as s3://",
        ),
        (
            {"file": "two.md", "out": "s3://a", "voice": "V", "transcript_file": "nope.txt"},
            r"line 1: `transcript_file`: .*nope\.txt: no such file",
        ),
        ({"file": "books", "out": "s3://a", "voice": "V"}, r"line 1: `file`: .*books: is a directory"),
        (
            {"file": "two.md", "out": "s3://a", "voice": "V", "transcript": ["a"]},
            r"line 1: `transcript`: Input should be a valid string \(got \['a'\]\); fix it",
        ),
    ],
)
def test_bad_entries_name_the_line_and_field(folder: Path, entry: object, message: str) -> None:
    with pytest.raises(BadInput, match=r"books\.jsonl: " + message):
        read_batch(write_jsonl(folder, entry))


def test_missing_book_file_names_the_resolved_path(folder: Path) -> None:
    text = "- {file: two.md, out: 's3://a', voice: V}\n- {file: lost/three.epub, out: 's3://a', voice: V}\n"
    path = write_yaml(folder, text)
    resolved = folder.resolve() / "lost" / "three.epub"
    with pytest.raises(BadInput, match=rf"books\.yaml: entry 2: `file`: {resolved}: no such file; paths are relative"):
        read_batch(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("- file: two.md\n  out: [unclosed\n", r"invalid YAML \(line 3\)"),
        ("- just a string\n", r"entry 1: expected a mapping of fields, got str"),
        (
            "- {file: two.md, out: 's3://a', voice: V}\n- {file: two.md, out: 's3://a', voice: V, format: aac}\n",
            r"entry 2: `format` is 'aac'",
        ),
        ("books: {file: two.md}\n", r"expected a list of entries"),
        ("defaults: {format: wav}\nbooks: []\n", r"a mapping at the top must hold only `books:`.*found defaults"),
        ("title: not a batch file\n", r"a mapping at the top must hold only `books:`"),
    ],
)
def test_bad_yaml_batch_files(folder: Path, text: str, message: str) -> None:
    with pytest.raises(BadInput, match=r"books\.yaml: " + message):
        read_batch(write_yaml(folder, text))


@pytest.mark.parametrize(
    ("name", "text"), [("a.jsonl", "# only a comment\n\n"), ("b.yaml", ""), ("c.yml", "books: []\n")]
)
def test_empty_batch_files_are_refused(folder: Path, name: str, text: str) -> None:
    with pytest.raises(
        BadInput, match=rf"{name}: the batch file lists no books or jobs; add one entry per book.* or per narration job"
    ):
        read_batch(write_yaml(folder, text, name=name))


def test_missing_directory_and_unsupported_batch_files(folder: Path) -> None:
    with pytest.raises(BadInput, match="no such file"):
        read_batch(str(folder / "nope.jsonl"))
    with pytest.raises(BadInput, match="is a directory"):
        read_batch(str(folder / "books"))
    with pytest.raises(BadInput, match=r"unsupported batch file type '\.json'"):
        read_batch(write_yaml(folder, "[]", name="books.json"))
    (folder / "latin.jsonl").write_bytes('{"title": "Déjà"}'.encode("latin-1"))
    with pytest.raises(BadInput, match=r"latin\.jsonl: not UTF-8 text \(invalid byte at offset 12\)"):
        read_batch(str(folder / "latin.jsonl"))


def test_entries_built_directly_keep_paths_as_given() -> None:
    entry = BatchEntry(file=Path("relative.epub"), out="s3://bucket", voice_id="abc")
    assert (entry.file, entry.format) == (Path("relative.epub"), "mp3")


def test_text_entries_are_jobs_titled_after_their_place_and_mix_with_books(folder: Path) -> None:
    path = write_jsonl(
        folder,
        {"file": "two.md", "out": "s3://audio/two", "voice_id": "7f92f8af"},
        "# today's headlines",
        {
            "text": "Markets rose today.",
            "out": "s3://audio/news",
            "voice": "clips/narrator.wav",
            "transcript": "Exact words.",
        },
        {"text": "Rain tomorrow.", "out": "s3://audio/news", "voice": "Morgan", "format": "opus", "title": "Weather"},
        name="mixed.jsonl",
    )
    book, first, second = read_batch(path)
    assert (book.is_job, book.file, book.text, book.title) == (False, folder / "two.md", None, None)
    assert (first.is_job, first.file, first.text, first.title) == (True, None, "Markets rose today.", "mixed.jsonl:3")
    assert first.voice_key == (str(folder / "clips" / "narrator.wav"), "Exact words.", None, None)
    assert (second.title, second.format, second.voice_key) == ("Weather", "opus", ("Morgan", None, None, None))
    (entry,) = read_batch(
        write_yaml(folder, "books:\n  - {text: 1984, out: 's3://a', voice_id: abc}\n", name="jobs.yaml")
    )
    assert (entry.text, entry.title) == ("1984", "jobs.yaml:1")  # YAML reads the text as a number


def test_text_over_the_size_limit_is_refused_naming_the_line(folder: Path) -> None:
    path = write_jsonl(
        folder,
        {"text": "Short.", "out": "s3://a", "voice_id": "x"},
        {"text": "é" * 6, "out": "s3://a", "voice_id": "x"},
    )
    assert len(read_batch(path, max_text_bytes=12)) == 2  # exactly at the limit is fine
    with pytest.raises(
        BadInput,
        match=r"books\.jsonl: line 2: `text`: the text is 12 bytes, over the limit of 11"
        r" \(NARRATE_MAX_TEXT_BYTES\): split it",
    ):
        read_batch(path, max_text_bytes=11)


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


def test_entries_carry_preset_chapters_and_synthesis(tmp_path: Path) -> None:
    (tmp_path / "two.md").write_text("# One\n\nFirst.\n\n# Two\n\nSecond.\n")
    (tmp_path / "books.yaml").write_text(
        "- {file: two.md, out: 's3://a', voice_id: v1, preset: acx, chapters: '2', speed: 1.1, latency: balanced}\n"
    )
    [(_, entry)] = list(read_placed_batch(str(tmp_path / "books.yaml"), max_text_bytes=10_000))
    assert (entry.preset, entry.chapters, entry.synthesis_values()["speed"], entry.synthesis_values()["latency"]) == (
        "acx",
        "2",
        1.1,
        "balanced",
    )
