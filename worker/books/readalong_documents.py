"""What a read-along adds to and writes beside a narrated document: the link to the highlight's stylesheet, the
stylesheet itself, and the document's SMIL Media Overlay.

A document is edited as text, one element inserted, so every other byte stays the publisher's; only when that
cannot be done safely (a head the text search cannot find) is the tree serialized instead.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

from lxml import etree

from worker.books.readalong_clips import TimedClip, timecount
from worker.books.readalong_package import declared, parse_xml

ACTIVE_CLASS = "narrate-active"
STYLESHEET = (
    "/* The sentence being read aloud: the class the package names as its media:active-class. */\n"
    f".{ACTIVE_CLASS} {{ background-color: #fff2a8; }}\n"
).encode()
_XHTML = "{http://www.w3.org/1999/xhtml}"
_SMIL = "http://www.w3.org/ns/SMIL"
_OPS = "http://www.idpf.org/2007/ops"
_ATTRIBUTES = rb"""(?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*\s*"""


def href(target: str, *, source: str) -> str:
    """The URL of the zip entry `target` from the zip entry `source`: relative, percent-encoded."""
    return quote(posixpath.relpath(target, posixpath.dirname(source) or "."))


def linked_document(data: bytes, *, path: str, fragments: Sequence[str], stylesheet: str) -> bytes:
    """The XHTML document with a <link> to `stylesheet` (a zip entry) at the end of its head (a head is added when it
    has none); ValueError when one of `fragments` is not an element's id in it."""
    root = parse_xml(data, name=path).getroot()
    if root.tag != f"{_XHTML}html":
        raise ValueError(f"{path}: not an XHTML document (its root is {root.tag})")
    ids = {element.get("id") for element in root.iter(tag=etree.Element)}
    if missing := [fragment for fragment in fragments if fragment not in ids]:
        raise ValueError(f"{path}: has no element with the id {', '.join(missing[:5])}")
    link = href(stylesheet, source=path)
    edited = _inserted(data, root, link)
    added = 1 if root.find(f"{_XHTML}head") is not None else 2  # the link, and the head when there was none
    if edited is not None and _has_link(edited, path=path, link=link, elements=sum(1 for _ in root.iter()) + added):
        return edited
    return _serialized_with_link(data, path=path, link=link)


def _inserted(data: bytes, root: Any, link: str) -> bytes | None:
    """The document's bytes with the link element inserted as text, or None when its place is not found."""
    head = root.find(f"{_XHTML}head")
    owner = head if head is not None else root  # its namespace prefix, if the document spells XHTML with one
    prefix = f"{owner.prefix}:" if owner.prefix else ""
    tag = prefix.encode()
    element = f'<{prefix}link rel="stylesheet" type="text/css" href="{link}"/>'.encode()
    if head is None:
        start = re.search(rb"<" + re.escape(tag) + rb"html" + _ATTRIBUTES + rb">", data)
        if start is None:
            return None
        return data[: start.end()] + b"<" + tag + b"head>" + element + b"</" + tag + b"head>" + data[start.end() :]
    end = re.search(rb"</" + re.escape(tag) + rb"head\s*>", data)
    if end is None:
        empty = re.search(rb"<" + re.escape(tag) + rb"head(" + _ATTRIBUTES + rb")/>", data)
        if empty is None:
            return None
        opened = b"<" + tag + b"head" + empty.group(1) + b">"
        return data[: empty.start()] + opened + element + b"</" + tag + b"head>" + data[empty.end() :]
    at = end.start()
    tail = (head[-1].tail or "").encode() if len(head) else b""
    indent = (head.text or "").encode()
    if tail and not tail.strip() and not indent.strip() and data[at - len(tail) : at] == tail:
        at -= len(tail)  # the link on a line of its own, indented as the head's other children
        element = indent + element
    return data[:at] + element + data[at:]


def _has_link(data: bytes, *, path: str, link: str, elements: int) -> bool:
    """Whether the edited document has the link last in its head and `elements` nodes: a check on the text edit."""
    try:
        root = parse_xml(data, name=path).getroot()
    except ValueError:
        return False
    head = root.find(f"{_XHTML}head")
    if head is None or not len(head):
        return False
    last = head[-1]
    return last.tag == f"{_XHTML}link" and last.get("href") == link and sum(1 for _ in root.iter()) == elements


def _serialized_with_link(data: bytes, *, path: str, link: str) -> bytes:
    tree = parse_xml(data, name=path)
    root = tree.getroot()
    head = root.find(f"{_XHTML}head")
    if head is None:
        head = etree.Element(f"{_XHTML}head")
        root.insert(0, head)
    etree.SubElement(head, f"{_XHTML}link", {"rel": "stylesheet", "type": "text/css", "href": link})
    return declared(tree)


def smil(*, path: str, document: str, audio: Mapping[str, str], clips: Sequence[TimedClip]) -> bytes:
    """The SMIL Media Overlay at `path` (a zip entry): one <par> per clip, the sentence in `document` and its clip
    in its audio file (`audio`: each file's name -> its zip entry)."""
    root = etree.Element(f"{{{_SMIL}}}smil", nsmap={None: _SMIL, "epub": _OPS}, version="3.0")
    body = etree.SubElement(root, f"{{{_SMIL}}}body")
    text = href(document, source=path)
    for number, clip in enumerate(clips, start=1):
        par = etree.SubElement(body, f"{{{_SMIL}}}par", id=f"par-{number}")
        etree.SubElement(par, f"{{{_SMIL}}}text", src=f"{text}#{quote(clip.fragment, safe='')}")
        etree.SubElement(
            par,
            f"{{{_SMIL}}}audio",
            src=href(audio[clip.audio], source=path),
            clipBegin=timecount(clip.begin_ms),
            clipEnd=timecount(clip.end_ms),
        )
    etree.indent(root)
    return declared(etree.ElementTree(root))
