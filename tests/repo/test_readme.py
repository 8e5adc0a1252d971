"""The README is the entry page: the two commands first, short, and a way on to every page of the manual."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_readme_starts_with_the_two_commands() -> None:
    first_block = README.split("```sh", 1)[1].split("```", 1)[0]
    assert [line.split("#")[0].strip() for line in first_block.strip().splitlines()] == ["make demo", "make test"]


def test_the_readme_is_an_entry_page() -> None:
    lines = len(README.splitlines())
    assert lines < 260, f"README.md has {lines} lines: the manual belongs in docs/, the README is the entry"


def test_the_readme_links_every_page_of_the_manual() -> None:
    linked = set(re.findall(r"\]\((docs/[^)#\s]+)", README))
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md")}
    assert pages, "docs/ holds no page"
    assert sorted(pages - linked) == [], "pages of docs/ the README does not link"
