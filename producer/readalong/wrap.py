"""One range of a document's text wrapped in a new element, the text a reader sees left as it was.

A range is given by two points in the DOM's text nodes. When both lie under the same parent, the text nodes at
the ends are split and the nodes between move into the new element. When they lie under different parents (a
sentence that starts inside `<em>` and ends after it), the inline elements between each point and the parent
they share are split at the point (`<em>stop. Now</em>` becomes `<em>stop. </em><em>Now</em>`: same text, same
style; an id stays on the first part), so that one element holds exactly the range. An inline element the range
leaves nothing narrated of (whitespace, an image, a ruby's `<rt>`) is not split: that joins the range instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from producer.readers.epub import SKIPPED

XHTML = "http://www.w3.org/1999/xhtml"
# Inline elements a range may split: split, each part shows and means what its text did in the whole. Not <q>,
# whose quotation marks a style sheet generates at both ends of each part.
SPLITTABLE = frozenset(
    "a abbr b bdi bdo big cite code data del dfn em font i ins kbd mark s samp small span strike strong sub sup"
    " time tt u var".split()
)
_IDS = ("id", "{http://www.w3.org/XML/1998/namespace}id")


class Unwrappable(Exception):
    """The range crosses an element that cannot be split, or lies where no XHTML element may go."""


@dataclass(frozen=True)
class Point:
    """A place in the text: `offset` characters into `parent.text` (child None) or into `child.tail`."""

    parent: Any
    child: Any
    offset: int


def point_in(element: Any, slot: str, offset: int) -> Point:
    """The point `offset` characters into `element.text` (slot "text") or `element.tail` (slot "tail")."""
    return Point(element, None, offset) if slot == "text" else Point(element.getparent(), element, offset)


def wrap(start: Point, end: Point, attrib: dict[str, str]) -> Any:
    """A new `<span>` with `attrib` holding exactly the content between `start` and `end`; Unwrappable if not."""
    common = _common_ancestor(start.parent, end.parent)
    while start.parent is not common:
        start, end = _raise_start(start, end)
    while end.parent is not common:
        end = _raise_end(end)
    if not _xhtml(common):
        raise Unwrappable(f"it lies inside <{_local(common)}>, where no XHTML element may go")
    return _wrap_within(common, start, end, attrib)


def _wrap_within(parent: Any, start: Point, end: Point, attrib: dict[str, str]) -> Any:
    span = parent.makeelement(_span_tag(parent), attrib)
    rest = _slot(start)
    _set_slot(start.parent, start.child, rest[: start.offset])
    rest = rest[start.offset :]
    index = 0 if start.child is None else parent.index(start.child) + 1
    if end.child is start.child:
        span.text, span.tail = rest[: end.offset - start.offset] or None, rest[end.offset - start.offset :] or None
    else:
        span.text = rest or None
        movers = list(parent)[index : parent.index(end.child) + 1]
        tail = end.child.tail or ""
        end.child.tail = tail[: end.offset] or None
        for node in movers:
            span.append(node)  # moves the node with its tail
        span.tail = tail[end.offset :] or None
    parent.insert(index, span)
    return span


def _raise_start(start: Point, end: Point) -> tuple[Point, Point]:
    """The same start one level up: before its parent when nothing narrated precedes it there, else a split."""
    element = start.parent
    holder = element.getparent()
    children = list(element)
    before = children[: children.index(start.child) + 1] if start.child is not None else []
    texts = [element.text or "", *(node.tail or "" for node in before)]
    texts[-1] = texts[-1][: start.offset]
    if _silent(texts, before):
        previous = element.getprevious()
        offset = len(holder.text or "") if previous is None else len(previous.tail or "")
        return Point(holder, previous, offset), end
    copy = _split(element, start)
    if end.child is element:
        end = Point(holder, copy, end.offset)  # the end was in the tail, which went with the copy
    return Point(holder, element, 0), end  # the element's tail is empty now: the point is right before the copy


def _raise_end(end: Point) -> Point:
    """The same end one level up: after its parent when nothing narrated follows it there, else a split."""
    element = end.parent
    children = list(element)
    after = children[children.index(end.child) + 1 :] if end.child is not None else children
    texts = [_slot(end)[end.offset :], *(node.tail or "" for node in after)]
    if not _silent(texts, after):
        _split(element, end)
    return Point(element.getparent(), element, 0)


def _silent(texts: list[str], nodes: list[Any]) -> bool:
    """Whitespace only, and nodes that hold no narrated text (comments, images, `<rt>`, `<script>`…)."""
    return not "".join(texts).strip() and all(
        not isinstance(node.tag, str) or _local(node) in SKIPPED or not "".join(node.itertext()).strip()
        for node in nodes
    )


def _split(element: Any, at: Point) -> Any:
    """Moves what `element` holds from `at` on into a copy of it placed right after it; the copy."""
    if not (_xhtml(element) and _local(element) in SPLITTABLE):
        raise Unwrappable(f"it begins or ends inside <{_local(element)}>, which cannot be split in two")
    copy = element.makeelement(element.tag, {k: v for k, v in element.attrib.items() if k not in _IDS})
    text = _slot(at)
    _set_slot(element, at.child, text[: at.offset])
    copy.text = text[at.offset :] or None
    first = 0 if at.child is None else element.index(at.child) + 1
    for node in list(element)[first:]:
        copy.append(node)
    copy.tail, element.tail = element.tail, None
    holder = element.getparent()
    holder.insert(holder.index(element) + 1, copy)
    return copy


def _slot(point: Point) -> str:
    return (point.parent.text if point.child is None else point.child.tail) or ""


def _set_slot(parent: Any, child: Any, text: str) -> None:
    if child is None:
        parent.text = text or None
    else:
        child.tail = text or None


def _common_ancestor(first: Any, second: Any) -> Any:
    lineage = {id(e) for e in first.iterancestors()} | {id(first)}
    return next(e for e in (second, *second.iterancestors()) if id(e) in lineage)


def _xhtml(element: Any) -> bool:
    """In the XHTML namespace, or in none (a document read with the HTML parser)."""
    tag = element.tag
    return isinstance(tag, str) and (not tag.startswith("{") or tag.startswith(f"{{{XHTML}}}"))


def _span_tag(parent: Any) -> str:
    return f"{{{XHTML}}}span" if parent.tag.startswith("{") else "span"


def _local(element: Any) -> str:
    return element.tag.rsplit("}", 1)[-1] if isinstance(element.tag, str) else ""
