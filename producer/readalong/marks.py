"""Narrated sentences marked in an XHTML document, for read-along.

Sentence k of the document's narrated paragraph p (both from 0; paragraphs as the EPUB reader finds them,
sentences as `worker.text.sentences.sentence_spans` splits them) is wrapped in
`<span id="narrate-{p}-{k}" class="narrate-sentence">`: the element a Media Overlay points at and highlights.
"""

from __future__ import annotations

import bisect
import re
from typing import Any

from producer.readalong.textmap import origins, raw_span
from producer.readalong.wrap import Point, Unwrappable, point_in, wrap
from producer.readers.epub import Block, html_blocks, parse_document, slot_text
from worker.errors import BadInput
from worker.text.sentences import sentence_id, sentence_spans

SENTENCE_CLASS = "narrate-sentence"
_ID = re.compile(r"narrate-\d+-\d+")


def mark_paragraphs(root: Any, body: list[Block], narrated: dict[int, str], *, language: str, where: str) -> int:
    """Wraps every sentence of the narrated paragraphs (index in `body` -> its text); how many were wrapped.

    `body` holds the document's paragraphs as the reader narrated them, parsed from `root`; BadInput when a
    narrated paragraph is not there, or a sentence cannot be marked without changing the text (`where` names
    the document in the message).
    """
    for paragraph, text in narrated.items():
        if paragraph >= len(body) or body[paragraph].text != text:
            raise BadInput(
                f"{where}: paragraph {paragraph + 1} is not the text that was narrated; mark the EPUB the"
                " narration was read from"
            )
    taken = {value for element in root.iter() if isinstance(element.tag, str) and (value := element.get("id"))}
    if clash := sorted(value for value in taken if _ID.fullmatch(value))[:1]:
        raise BadInput(
            f"{where}: already has an element with id {clash[0]!r} (a read-along book already?); use the"
            " publisher's EPUB"
        )
    # Last first: wrapping a range leaves everything before it where it was, so earlier points stay valid.
    return sum(
        _mark_block(body[paragraph], paragraph, language=language, where=where)
        for paragraph in sorted(narrated, reverse=True)
    )


def marked_sentences(content: bytes) -> list[tuple[str, str]]:
    """(id, normalized text) of each marked sentence of an XHTML document, in document order."""
    root = parse_document(content, name="marked document", document="")
    found = []
    for element in root.iter():
        if isinstance(element.tag, str) and SENTENCE_CLASS in (element.get("class") or "").split():
            found.append((element.get("id") or "", " ".join(block.text for block in html_blocks(element))))
    return found


def _mark_block(block: Block, paragraph: int, *, language: str, where: str) -> int:
    texts = [slot_text(element, slot) for element, slot in block.pieces]
    bounds = [0]
    for text in texts:
        bounds.append(bounds[-1] + len(text))
    normalized = block.text
    sources = origins("".join(texts), normalized)
    spans = sentence_spans(normalized, language=language)
    for number in reversed(range(len(spans))):
        start, end = raw_span(sources, *spans[number])
        first = bisect.bisect_right(bounds, start) - 1  # the piece holding the sentence's first character
        last = bisect.bisect_left(bounds, end) - 1  # the piece holding its last one
        name = sentence_id(paragraph, number)
        try:
            wrap(
                _point(block, first, start - bounds[first]),
                _point(block, last, end - bounds[last]),
                {"id": name, "class": SENTENCE_CLASS},
            )
        except Unwrappable as exc:
            sentence = normalized[slice(*spans[number])]
            shown = sentence if len(sentence) <= 60 else sentence[:57] + "..."
            raise BadInput(
                f"{where}: sentence {shown!r} cannot be marked for read-along: {exc}; simplify its markup,"
                " or narrate the book without read-along"
            ) from exc
    return len(spans)


def _point(block: Block, piece: int, offset: int) -> Point:
    element, slot = block.pieces[piece]
    return point_in(element, slot, offset)
