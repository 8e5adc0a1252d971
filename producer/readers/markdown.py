"""Read a Markdown book: YAML front matter for metadata, "#"/"##"/"###" headings for chapters.

Parsed by markdown-it-py (CommonMark, with tables and strikethrough), whose
cost grows with the length of the text: hand-written patterns took 44 s on
`"**a " * 20000`. Code fences and HTML comments say nothing; links keep their
text; images, footnote marks and bare URLs are dropped; a table row is read as
its cells; headings below "###" are plain paragraphs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from producer.readers.booktext import BookText, ChapterText, one_line, required_text
from worker.errors import BadInput
from worker.text.normalize import normalize_text

_PARSER = MarkdownIt("commonmark").enable(["table", "strikethrough"])
_SILENT_HTML = ("<!--", "<?", "<!", "<script", "<style", "<pre", "<textarea")  # blocks whose text is not prose
_TAG = re.compile(r"<[^<>]*>")  # "[^<>]": each "<" is scanned once, so many of them cost no more than a few
_FOOTNOTE = re.compile(r"\[\^[^\[\]]*\]")
_TASK = re.compile(r"\[[ xX]\][ \t]+")


def read_markdown(file: Path, text: str) -> BookText:
    """The decoded Markdown `text` of `file` as a book, or BadInput naming the line to fix."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    meta, start = _front_matter(lines, file.name)
    items = list(_items(_PARSER.parse("\n".join(lines[start:])), offset=start))  # (line, heading level 1-3 or 0, text)
    # A lone "#" heading before any text names the book; several "#" headings are chapters.
    first = next((item for item in items if item[1] or item[2]), None)
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
        chapter_text, heading = normalize_text("\n\n".join(body)), heading or f"Chapter {len(chapters) + 1}"
        if index and not chapter_text:
            raise BadInput(
                f"{file.name}: chapter {heading!r} (line {number}) has no text under its heading;"
                " add the text or remove the heading"
            )
        if chapter_text:
            chapters.append(ChapterText(heading if index else "Introduction" if sections[1:] else title, chapter_text))
    required_text("".join(chapter.text for chapter in chapters), file.name)
    author = meta.get("author") or ""
    author = ", ".join(one_line(str(a)) for a in author) if isinstance(author, list) else one_line(str(author))
    language = one_line(str(meta.get("language") or meta.get("lang") or ""))
    return BookText(file.name, title, author, language, None, "", chapters)


def _items(tokens: list[Token], *, offset: int) -> Iterator[tuple[int, int, str]]:
    """Headings (level 1 to 3) and paragraphs of plain text, with the line each starts on."""
    heading, row, item_starts = 0, None, False  # row: the cells of the table row being read
    cells: list[str] = []
    for token in tokens:
        line = offset + (token.map[0] + 1 if token.map else 0)
        kind = token.type
        if kind in ("heading_open", "heading_close"):
            heading = int(token.tag[1:]) if kind == "heading_open" else 0
        elif kind == "list_item_open":
            item_starts = True
        elif kind in ("tr_open", "tr_close"):
            if kind == "tr_close":
                yield row or line, 0, ", ".join(cell for cell in cells if cell)
            row, cells = (line, []) if kind == "tr_open" else (None, [])
        elif kind == "inline" and token.children is not None:
            text = _inline(token.children)
            if item_starts:
                text, item_starts = _TASK.sub("", text, count=1) if _TASK.match(text) else text, False
            if row is not None:
                cells.append(one_line(text))
            elif heading:
                yield line, heading if heading <= 3 else 0, one_line(text)
            else:
                yield line, 0, text
        elif kind == "code_block":
            yield line, 0, token.content  # indented text: in a book, more often prose than code
        elif kind == "html_block" and not token.content.lstrip().lower().startswith(_SILENT_HTML):
            yield line, 0, _TAG.sub("", token.content)
        elif kind in ("fence", "hr"):
            yield line, 0, ""  # says nothing, but still ends a paragraph


def _inline(children: list[Token]) -> str:
    """An inline run as plain text: markers and tags dropped, links' text kept, images and bare URLs dropped."""
    parts: list[str] = []
    autolink = False
    for child in children:
        kind = child.type
        if kind == "link_open":
            autolink = child.markup == "autolink"
        elif kind == "link_close":
            autolink = False
        elif autolink:
            continue
        elif kind in ("text", "code_inline"):
            parts.append(child.content)
        elif kind == "softbreak":
            parts.append("\n")
        elif kind == "hardbreak" or (kind == "html_inline" and child.content[:3].lower() == "<br"):
            parts.append(" ")
    return _FOOTNOTE.sub("", "".join(parts))


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
