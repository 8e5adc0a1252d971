"""Read a Markdown book: YAML front matter for metadata, "#"/"##"/"###" headings for chapters."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from producer.readers.booktext import BookText, ChapterText, one_line, required_text
from worker.errors import BadInput
from worker.text.normalize import normalize_text

# Blanked before line parsing, keeping their newlines so line numbers stay right.
_HIDDEN = re.compile(r"<!--.*?-->|<(script|style)\b.*?</\1\s*>", re.S | re.I)
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?=[ \t]|$)(.*)$")
_CLOSING_HASHES = re.compile(r"(?:^|[ \t])#+[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# Horizontal rules, setext underlines, link definitions and table separator rows say nothing.
_SILENT_LINE = re.compile(
    r"^ {0,3}(?:([-*_])(?:[ \t]*\1){2,}|=+|\[[^\]]+\]:[ \t]*\S.*|[|:\- \t]*-[|:\- \t]*\|[|:\- \t]*)[ \t]*$"
)
_QUOTE = re.compile(r"^ {0,3}(?:>[ \t]?)+")
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?")
# Escaped and code-span punctuation hides in a private-use range while emphasis is stripped.
_SHIELD = 0xF0000
_SHIELDED = re.compile("[\U000f0000-\U000f007f]")
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1", re.S)
_INLINE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"!\[[^\]]*\](?:\([^)]*\)|\[[^\]]*\])?"), ""),  # images
    (re.compile(r"\[\^[^\]]*\]"), ""),  # footnote references
    (re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\[[^\]]*\])"), r"\1"),  # links keep their text
    (re.compile(r"<br\s*/?>", re.I), " "),
    (re.compile(r"</?[A-Za-z][^>]*>"), ""),  # HTML tags and autolinks
    (re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.S), r"\2"),
    (re.compile(r"\*(?=[^\s*])(.+?)(?<=[^\s*])\*", re.S), r"\1"),
    (re.compile(r"(?<!\w)_(?=[^\s_])(.+?)(?<=[^\s_])_(?!\w)", re.S), r"\1"),  # not inside snake_case
    (re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.S), r"\1"),
]


def read_markdown(file: Path, text: str) -> BookText:
    """The decoded Markdown `text` of `file` as a book, or BadInput naming the line to fix."""
    text = _HIDDEN.sub(lambda m: "\n" * m.group().count("\n"), text.replace("\r\n", "\n").replace("\r", "\n"))
    lines = text.split("\n")
    meta, start = _front_matter(lines, file.name)
    items: list[tuple[int, int, str]] = []  # (line number, heading level 1-3 or 0 for body, text)
    fence = ""
    for number, line in enumerate(lines[start:], start + 1):
        if fence:
            fence = "" if re.match(rf" {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", line) else fence
        elif match := _FENCE.match(line):
            fence = match.group(1)
            items.append((number, 0, ""))  # code is dropped but still ends a paragraph
        elif (match := _HEADING.match(line)) and len(match.group(1)) <= 3:
            heading = one_line(_inline(_CLOSING_HASHES.sub("", match.group(2).strip())))
            items.append((number, len(match.group(1)), heading))
        else:
            items.append((number, 0, _body_line(line)))
    # A lone "#" heading before any text names the book; several "#" headings are chapters.
    first = next((item for item in items if item[1] or item[2].strip()), None)
    title_item = first if first and first[1] == 1 and sum(item[1] == 1 for item in items) == 1 else None
    title = one_line(str(meta.get("title") or "")) or (title_item[2] if title_item else "") or file.stem
    sections: list[tuple[str, int, list[str]]] = [("", 0, [])]  # the first holds text before any chapter
    for item in items:
        if item[1] and item is not title_item:
            sections.append((item[2], item[0], []))
        elif not item[1]:
            sections[-1][2].append(item[2])
    chapters: list[ChapterText] = []
    for index, (heading, number, body) in enumerate(sections):
        chapter_text, heading = _inline("\n".join(body)), heading or f"Chapter {len(chapters) + 1}"
        if index and not chapter_text:
            raise BadInput(f"{file.name}: chapter {heading!r} (line {number}) has no text under its heading;"
                           " add the text or remove the heading")  # fmt: skip
        if chapter_text:
            chapters.append(ChapterText(heading if index else "Introduction" if sections[1:] else title, chapter_text))
    required_text("".join(chapter.text for chapter in chapters), file.name)
    author = meta.get("author") or ""
    author = ", ".join(one_line(str(a)) for a in author) if isinstance(author, list) else one_line(str(author))
    language = one_line(str(meta.get("language") or meta.get("lang") or ""))
    return BookText(file.name, title, author, language, None, "", chapters)


def _front_matter(lines: list[str], name: str) -> tuple[dict[str, Any], int]:
    """YAML between "---" lines at the very top, and the index of the first line after it."""
    end = next((i for i in range(1, len(lines)) if lines[i].strip() in ("---", "...")), 0)
    first = next((line for line in lines[1:end] if line.strip()), "")
    if lines[0].strip() != "---" or not end or not re.match(r"[\w-]+[ \t]*:", first):
        return {}, 0  # no front matter; a "---" on the first line is then a horizontal rule
    try:
        data = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" near line {mark.line + 2}" if mark is not None else ""
        raise BadInput(f"{name}: the front matter (--- ... --- at the top) is not valid YAML{where}; fix it") from exc
    if not isinstance(data, dict):
        raise BadInput(f"{name}: the front matter (--- ... --- at the top) must be `key: value` lines; fix it")
    return data, end + 1


def _body_line(line: str) -> str:
    if _SILENT_LINE.match(line):
        return ""  # still a paragraph break
    line = _QUOTE.sub("", line)
    if match := _LIST_ITEM.match(line):
        return "\n" + line[match.end() :]  # each list item is its own paragraph
    if line.lstrip().startswith("|"):  # a table row: its cells, as one paragraph
        return "\n" + ", ".join(cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip()) + "\n"
    if match := _HEADING.match(line):
        return f"\n{_CLOSING_HASHES.sub('', match.group(2).strip())}\n"  # #### and deeper: a plain paragraph
    return line


def _shield(text: str) -> str:
    return "".join(chr(_SHIELD + ord(c)) if c.isascii() and not c.isalnum() and not c.isspace() else c for c in text)


def _inline(text: str) -> str:
    """Markdown inline syntax stripped, one paragraph at a time (so no marker pairs across them), normalized."""
    paragraphs = []
    for paragraph in re.split(r"\n[ \t]*\n", _ESCAPE.sub(lambda m: _shield(m.group(1)), text)):
        paragraph = _CODE_SPAN.sub(lambda m: _shield(m.group(2).strip()), paragraph)
        for pattern, replacement in _INLINE:
            paragraph = pattern.sub(replacement, paragraph)
        paragraphs.append(paragraph)
    return normalize_text(_SHIELDED.sub(lambda m: chr(ord(m.group()) - _SHIELD), "\n\n".join(paragraphs)))
