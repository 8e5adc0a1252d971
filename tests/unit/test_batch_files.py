"""Batch files read: JSON Lines and YAML, paths resolved beside the file, defaults filled, bad entries refused by line
and field."""

from pathlib import Path

import pytest

from producer.readers.batch import BATCH_SUFFIXES, BatchEntry, read_batch, read_placed_batch
from tests.support.batch_files import batch_folder, write_jsonl, write_yaml
from worker.errors import BadInput


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A batch file's folder with two books, a reference clip and its transcript."""
    return batch_folder(tmp_path)


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
