"""The NCX, EPUB 2's table of contents: made into the nav document EPUB 3 requires, and its page types repaired.

An EPUB 3 keeps the NCX for EPUB 2 reading systems only. Its schema allows three page types ("front",
"normal", "special"); books made for EPUB 3 sometimes use the structural words of EPUB 3 there instead
("body"), which EPUBCheck reports as an error. Those are renamed to the NCX's word for the same kind of page.
"""

from __future__ import annotations

import posixpath
from typing import Any

from lxml import etree

from producer.readalong.archive import OPS_NS, XHTML_NS, parse_xml, relative_href

NCX = "{http://www.daisy.org/z3986/2005/ncx/}"
_PAGE_TYPES = frozenset({"front", "normal", "special"})
_PAGE_TYPE_NAMES = {"frontmatter": "front", "cover": "front", "body": "normal", "bodymatter": "normal"}


def nav_from_ncx(ncx: bytes, *, ncx_path: str, nav_path: str, title: str, language: str) -> bytes:
    """An EPUB 3 nav document (`nav_path` inside the zip) with the NCX's table of contents, nesting kept."""
    root = parse_xml(ncx)
    heading = " ".join("".join(root.find(f"{NCX}docTitle").itertext()).split()) if _has(root, "docTitle") else ""
    html = etree.Element(f"{{{XHTML_NS}}}html", nsmap={None: XHTML_NS, "epub": OPS_NS})
    if language:
        html.set("lang", language)
        html.set("{http://www.w3.org/XML/1998/namespace}lang", language)
    head = etree.SubElement(html, f"{{{XHTML_NS}}}head")
    etree.SubElement(head, f"{{{XHTML_NS}}}title").text = heading or title
    nav = etree.SubElement(etree.SubElement(html, f"{{{XHTML_NS}}}body"), f"{{{XHTML_NS}}}nav", id="toc")
    nav.set(f"{{{OPS_NS}}}type", "toc")
    etree.SubElement(nav, f"{{{XHTML_NS}}}h1").text = heading or title
    nav_map = root.find(f"{NCX}navMap")
    entries = _entries(nav_map if nav_map is not None else root, base=posixpath.dirname(ncx_path), nav=nav_path)
    nav.append(entries if entries is not None else _empty_list(nav_path))
    return etree.tostring(html.getroottree(), xml_declaration=True, encoding="utf-8", doctype="<!DOCTYPE html>")


def repair_page_types(ncx: bytes) -> bytes | None:
    """The NCX with each page type its schema does not allow renamed (see the module), or None when all are."""
    root = parse_xml(ncx)
    changed = False
    for target in root.iter(f"{NCX}pageTarget"):
        kind = target.get("type")
        if kind is not None and kind not in _PAGE_TYPES:
            target.set("type", _PAGE_TYPE_NAMES.get(kind.strip().lower(), "special"))
            changed = True
    if not changed:
        return None
    return etree.tostring(root.getroottree(), xml_declaration=True, encoding="utf-8")


def _entries(parent: Any, *, base: str, nav: str) -> Any:
    """An `<ol>` of the navPoints under `parent`, or None when there are none that lead anywhere."""
    items = []
    for point in parent.findall(f"{NCX}navPoint"):
        content = point.find(f"{NCX}content")
        source = content.get("src", "") if content is not None else ""
        label = " ".join("".join(point.find(f"{NCX}navLabel").itertext()).split()) if _has(point, "navLabel") else ""
        children = _entries(point, base=base, nav=nav)
        if not source and children is None:
            continue
        item = etree.Element(f"{{{XHTML_NS}}}li")
        if source:
            path, _, fragment = source.partition("#")
            href = relative_href(posixpath.normpath(posixpath.join(base, path)), base_document=nav)
            link = etree.SubElement(item, f"{{{XHTML_NS}}}a", href=href + (f"#{fragment}" if fragment else ""))
            link.text = label or path
        else:
            etree.SubElement(item, f"{{{XHTML_NS}}}span").text = label or "…"
        if children is not None:
            item.append(children)
        items.append(item)
    if not items:
        return None
    listing = etree.Element(f"{{{XHTML_NS}}}ol")
    listing.extend(items)
    return listing


def _empty_list(nav: str) -> Any:
    """A table of contents must list something: the NCX listed nothing, so the nav lists itself."""
    listing = etree.Element(f"{{{XHTML_NS}}}ol")
    link = etree.SubElement(etree.SubElement(listing, f"{{{XHTML_NS}}}li"), f"{{{XHTML_NS}}}a")
    link.set("href", posixpath.basename(nav))
    link.text = "Contents"
    return listing


def _has(element: Any, name: str) -> bool:
    return element.find(f"{NCX}{name}") is not None
