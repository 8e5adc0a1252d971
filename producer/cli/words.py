"""`narrate words BOOK`: the names, rare words, acronyms and numbers with units to check before a book is rendered."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
import yaml
from rich.table import Table

from producer.cli import options
from producer.cli.console import console, errors, fail, warn
from producer.readers.books import read_book
from producer.readers.selection import ChapterChoice
from producer.readers.words import (
    DEFAULT_RARER_THAN,
    NotALanguageTag,
    NoWordList,
    WordEntry,
    common_word_test,
    find_words,
    numbered_chapters,
    trimmed,
)
from worker.errors import BadInput

TABLE_ROWS = 100
TABLE_SAMPLE_CHARS = 70  # the table's sample: a few words either side, so a row stays two or three lines
INSTALL_HINT = "pip install 'narrate[words]'"

Language = Annotated[
    str | None,
    typer.Option(
        "--language",
        help="The book's language as a tag such as en, en-GB or fr"
        " (default: the book's own; English if it names none).",
    ),
]
RarerThan = Annotated[
    float,
    typer.Option(
        "--rarer-than",
        help="Uncommon: below this on wordfreq's Zipf scale (3 is once per million words, 0 lists none).",
    ),
]
Limit = Annotated[
    int | None,
    typer.Option(
        "--limit",
        min=0,
        help=f"Show only the N most used (default: {TABLE_ROWS} in the table, all with --json or --yaml).",
        metavar="N",
    ),
]
Yaml = Annotated[
    bool,
    typer.Option("--yaml", help="Print a starter lexicon: each word mapped to itself, to edit and pass as --lexicon."),
]


def words_table(source: str, entries: list[WordEntry]) -> Table:
    table = Table(title=f"{source}: words to check before rendering")
    table.add_column("count", justify="right")
    table.add_column("word", overflow="fold")
    table.add_column("category")
    table.add_column("first in", max_width=16, overflow="ellipsis", no_wrap=True)
    table.add_column("sample", ratio=1)
    for entry in entries:
        sample = trimmed(entry.sample, max(entry.sample.find(entry.word), 0), TABLE_SAMPLE_CHARS)
        table.add_row(
            f"{entry.count:,}",
            entry.word,
            ", ".join(entry.categories),
            f"{entry.chapter_number}. {entry.chapter}",
            sample,
        )
    return table


def starter_lexicon(entries: list[WordEntry]) -> str:
    """A YAML lexicon mapping each word to itself, a comment above each saying how often, why and where it is
    first used."""
    lines = [
        "# Starter lexicon from `narrate words`: write after each colon how the word should be said,",
        "# delete the entries that are fine, and pass the file to `narrate book --lexicon`.",
        "# Entries match any letter case; for an acronym that is also a word (US, us) write",
        "#   US: {say: United States, case_sensitive: true}",
    ]
    for entry, *others in _same_but_for_case(entries):
        count = entry.count + sum(other.count for other in others)
        categories = dict.fromkeys(c for e in (entry, *others) for c in e.categories)
        first = min((entry, *others), key=lambda e: e.chapter_number)
        also = f"; also written {', '.join(other.word for other in others)}" if others else ""
        lines.append(
            f'# {count}× {", ".join(categories)}, first in "{first.chapter}" (chapter {first.chapter_number}){also}'
        )
        # safe_dump quotes what YAML would misread: NO, ON and Y are booleans, "#1" a comment
        lines.append(yaml.safe_dump({entry.word: entry.word}, allow_unicode=True, width=1_000_000).rstrip("\n"))
    if not entries:
        lines.append("{}")
    return "\n".join(lines) + "\n"


def _same_but_for_case(entries: list[WordEntry]) -> list[list[WordEntry]]:
    """Entries grouped by casefolded word, most used spelling first: a lexicon entry matches any letter case."""
    groups: dict[str, list[WordEntry]] = {}
    for entry in entries:
        groups.setdefault(entry.word.casefold(), []).append(entry)
    return list(groups.values())


def register(app: typer.Typer, *, settings_or_exit: Any = None) -> None:
    """Add `narrate words` to the `narrate` app; reading a book needs no settings, so `settings_or_exit` is not
    called."""

    @app.command()
    def words(
        file: Annotated[str, typer.Argument(help="A .epub, .md or .txt book.")],
        chapters: options.Chapters = None,
        include_front_matter: options.FrontMatter = False,
        language: Language = None,
        rarer_than: RarerThan = DEFAULT_RARER_THAN,
        limit: Limit = None,
        as_json: options.Json = False,
        as_yaml: Yaml = False,
    ) -> None:
        """The words to check before paying for a whole audiobook: names, uncommon words, acronyms, numbers with units.

        Names are capitalised words seen past a sentence's start; uncommon words are rare in wordfreq's list for the
        book's language (pip install 'narrate[words]'); acronyms are words in capitals; numbers with units are such
        as 5 km, 12kg, £20 or 10%. Languages written without letter case (Chinese, Japanese and the like) have no
        names or acronyms to find, and German, which capitalises every noun, no names. Most used first, with the
        first sentence and chapter using each.
        """
        if as_json and as_yaml:
            fail("--json and --yaml both print the list; pass one of them")
        try:
            choice = ChapterChoice.parse(chapters, include_front_matter=include_front_matter)
            book = read_book(file)
            chosen = numbered_chapters(book, choice)
        except BadInput as exc:
            fail(str(exc))
        is_common = _common_words(language, book.language, rarer_than=rarer_than)
        entries = find_words(chosen, is_common=is_common, language=language or book.language)
        shown = entries[: limit if limit is not None else (None if as_json or as_yaml else TABLE_ROWS)]
        if as_json:
            print(json.dumps([entry.as_dict() for entry in shown], indent=2))
        elif as_yaml:
            print(starter_lexicon(shown), end="")
        else:
            console.print(words_table(book.source, shown))
        if len(shown) < len(entries):
            errors.print(
                f"{len(entries) - len(shown):,} more not shown (of {len(entries):,});"
                f" --limit {len(entries)} shows them all",
                highlight=False,
            )


def _common_words(option: str | None, book_language: str, *, rarer_than: float) -> Callable[[str], bool] | None:
    """The uncommon-word test for the language asked for, else the book's; None (with a warning) when there is no
    list."""
    language = option or book_language
    if not language:
        errors.print(
            "the book names no language: uncommon words are those rare in English (--language picks another)",
            highlight=False,
        )
        language = "en"
    try:
        return common_word_test(language, rarer_than=rarer_than)
    except ModuleNotFoundError as exc:
        fail(f"uncommon words are looked up in wordfreq's lists, and {exc.name} is not installed: {INSTALL_HINT}")
    except NotALanguageTag as exc:
        if option:
            fail(f"--language: {exc}")
        warn(f"the book's language: {exc}; uncommon words are not listed (pass --language)")
    except NoWordList as exc:
        warn(f"{exc}: uncommon words are not listed, names, acronyms and numbers still are")
    return None
