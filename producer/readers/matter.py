"""Front and back matter: the parts of an EPUB a listener does not want read aloud.

A spine document is matter when the book says so (EPUB 3 `epub:type` toc,
landmarks, page-list, index, copyright-page…; the EPUB 2 guide's toc, index,
copyright-page…), when it is mostly links to other parts (a table of contents
or an index the book forgot to mark), or when it is a short page that carries
the copyright notice. Each verdict says why, so `narrate estimate` can show it.
"""

from __future__ import annotations

import re
from typing import Any

_OPS_TYPE = "{http://www.idpf.org/2007/ops}type"
# epub:type / guide types that are never narrated, with the words a listing shows
_TYPES = {
    "toc": "table of contents",
    "landmarks": "landmarks",
    "page-list": "page list",
    "loi": "list of illustrations",
    "lot": "list of tables",
    "index": "index",
    "copyright-page": "copyright page",
    "colophon": "colophon",
    "imprint": "imprint",
    "imprimatur": "imprint",
    "errata": "errata",
}
_LINK_SHARE = 0.6  # of the document's words inside links
_COPYRIGHT = re.compile(r"copyright|©|\ball rights reserved\b|\bisbn\b", re.IGNORECASE)
_COPYRIGHT_PAGE_CHARS = 1_500


def matter_of(root: Any, *, text: str, guide_type: str | None = None) -> str:
    """Why this parsed XHTML document is front or back matter, or "" when it is to be narrated."""
    for element in root.iter():
        declared = (element.get(_OPS_TYPE) or "") if isinstance(element.tag, str) else ""
        for kind in declared.split():
            if kind in _TYPES:
                return f"{_TYPES[kind]} (epub:type {kind})"
    if guide_type in _TYPES:
        return f"{_TYPES[guide_type]} (guide type {guide_type})"
    words = len(text.split())
    linked = sum(len(_text_of(a).split()) for a in root.iter() if _local(a) == "a" and a.get("href"))
    links = sum(1 for a in root.iter() if _local(a) == "a" and a.get("href"))
    if words and links >= 3 and linked / words >= _LINK_SHARE:
        return f"mostly links ({linked} of {words} words): a table of contents or an index"
    if len(text) <= _COPYRIGHT_PAGE_CHARS and _COPYRIGHT.search(text):
        return "copyright page (a short page with a copyright notice)"
    return ""


def _local(element: Any) -> str:
    return element.tag.rsplit("}", 1)[-1].lower() if isinstance(element.tag, str) else ""


def _text_of(element: Any) -> str:
    return "".join(element.itertext())
