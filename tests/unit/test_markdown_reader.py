"""Markdown read by a CommonMark parser: hostile inputs finish, and what hand-written patterns missed is read right."""

from __future__ import annotations

from pathlib import Path

import pytest

from producer.readers.books import read_book


def chapters(tmp_path: Path, text: str) -> list[tuple[str, str]]:
    (tmp_path / "notes.md").write_text(text, encoding="utf-8")
    return [(c.title, c.text) for c in read_book(str(tmp_path / "notes.md")).chapters]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "text",
    [
        "**a " * 20000,  # 44 s with the patterns this reader had
        "a <!--" * 20000,  # comments never closed
        "_a " * 20000,
        "[a](" * 20000,
        "a " + "`" * 20000 + "a",
        "<" * 50000 + "a",
        "| a " * 5000 + "|\n" + "|---" * 5000 + "|\n" + "| b " * 5000 + "|\n",
    ],
    ids=["emphasis", "comments", "underscores", "links", "backticks", "angles", "wide table"],
)
def test_hostile_markdown_is_read_in_bounded_time(tmp_path: Path, text: str) -> None:
    [(_, read)] = chapters(tmp_path, text)
    assert read


def test_what_the_patterns_missed_is_read_as_commonmark_says(tmp_path: Path) -> None:
    text = (
        "Title\n=====\n\nSetext heading above.\n\n"
        "Part Two\n--------\n\n"
        "| Name | Role |\n|------|------|\n| Ann | *lead* |\n\n"
        "    An indented paragraph, kept.\n\n"
        "<div>\nA block of <em>HTML</em> text.\n</div>\n\n"
        "<!--\na comment\n\nover paragraphs\n-->\n\n"
        'A [link](https://example.com "its title") and **bold `code`** see[^1].\n'
    )
    assert chapters(tmp_path, text) == [
        ("Introduction", "Setext heading above."),  # the lone "=" heading is the book's title
        (
            "Part Two",
            "Name, Role\n\nAnn, lead\n\nAn indented paragraph, kept.\n\nA block of HTML text.\n\n"
            "A link and bold code see.",
        ),
    ]
