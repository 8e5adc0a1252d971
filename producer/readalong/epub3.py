"""An EPUB 2 made a valid EPUB 3 with the fewest changes.

The package says version 3.0 and when it was modified; EPUB 2's `opf:` attributes on the metadata become the
`<meta refines>` EPUB 3 has for them (role, file-as) or go (scheme, event: EPUB 3 has no place for them, and
keeps one `dc:date`); a nav document is made from the NCX, which stays for EPUB 2 reading systems; each XHTML
document gets EPUB 3's DOCTYPE, and the manifest the properties EPUB 3 asks of documents with scripts, SVG or
MathML. Nothing a reader sees in the text changes.
"""

from __future__ import annotations

import posixpath
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from lxml import etree

from producer.readalong.archive import parse_xml, relative_href, xhtml_bytes
from producer.readalong.navdoc import nav_from_ncx
from producer.readers.epub import parse_document

OPF = "{http://www.idpf.org/2007/opf}"
DC = "{http://purl.org/dc/elements/1.1/}"
_SVG = "{http://www.w3.org/2000/svg}"
_MATHML = "{http://www.w3.org/1998/Math/MathML}"
XHTML_TYPE = "application/xhtml+xml"
# XML files that EPUB 3 wants without a DOCTYPE naming an external DTD (EPUB 2 had one on each)
_DOCTYPE_FREE = frozenset({"application/x-dtbncx+xml", "image/svg+xml"})
_EXTERNAL_DOCTYPE = re.compile(rb"<!DOCTYPE\s[^>\[]*(?:PUBLIC|SYSTEM)[^>\[]*>\s*")


def is_epub2(package: Any) -> bool:
    return (package.get("version") or "").strip().startswith("2")


def upgrade(entries: dict[str, bytes], *, package_path: str, name: str) -> None:
    """Makes the EPUB 2 in `entries` (its package document at `package_path`) an EPUB 3, in place."""
    package = parse_xml(entries[package_path])
    base = posixpath.dirname(package_path)
    package.set("version", "3.0")
    metadata = package.find(f"{OPF}metadata")
    _upgrade_metadata(metadata)
    manifest = package.find(f"{OPF}manifest")
    for item in manifest.findall(f"{OPF}item"):
        path = posixpath.normpath(posixpath.join(base, unquote(item.get("href", ""))))
        if path not in entries:
            continue
        if item.get("media-type") == XHTML_TYPE:
            root = parse_document(entries[path], name=name, document=path)
            entries[path] = xhtml_bytes(root, html5_doctype=True)
            _add_properties(item, _document_properties(root))
        elif item.get("media-type") in _DOCTYPE_FREE:
            entries[path] = _without_external_doctype(entries[path])
    nav_path = _free_path(entries, posixpath.join(base, "nav.xhtml"))
    title = next(("".join(t.itertext()).strip() for t in metadata.iter(f"{DC}title")), "")
    language = next(("".join(t.itertext()).strip() for t in metadata.iter(f"{DC}language")), "")
    ncx = _ncx_path(package, base)
    entries[nav_path] = nav_from_ncx(
        entries.get(ncx, b"<ncx xmlns='http://www.daisy.org/z3986/2005/ncx/'/>"),
        ncx_path=ncx or package_path,
        nav_path=nav_path,
        title=title,
        language=language,
    )
    ids = {element.get("id") for element in package.iter() if isinstance(element.tag, str)}
    nav_item = etree.SubElement(
        manifest,
        f"{OPF}item",
        id=_free_id(ids, "nav"),
        href=quote(relative_href(nav_path, base_document=package_path)),
        properties="nav",
    )
    nav_item.set("media-type", XHTML_TYPE)
    entries[package_path] = etree.tostring(package.getroottree(), xml_declaration=True, encoding="utf-8")


def _without_external_doctype(data: bytes) -> bytes:
    """The file with its DOCTYPE removed when it names an external DTD and declares nothing itself."""
    found = _EXTERNAL_DOCTYPE.search(data)
    root_start = re.search(rb"<[A-Za-z]", data)
    if found is None or root_start is None or found.start() > root_start.start():
        return data
    return data[: found.start()] + data[found.end() :]


def _upgrade_metadata(metadata: Any) -> None:
    ids = {element.get("id") for element in metadata.iter() if isinstance(element.tag, str)}
    dates = list(metadata.iter(f"{DC}date"))
    kept = next((d for d in dates if d.get(f"{OPF}event") in (None, "publication")), dates[0] if dates else None)
    for date in dates:
        if date is not kept:
            metadata.remove(date)
    refined = []
    for element in list(metadata):
        if not isinstance(element.tag, str):
            continue
        refinements = []
        for attribute, meta in ((f"{OPF}role", "role"), (f"{OPF}file-as", "file-as")):
            if (value := element.attrib.pop(attribute, None)) is not None and value.strip():
                refinements.append((meta, value.strip()))
        for attribute in (f"{OPF}scheme", f"{OPF}event"):
            element.attrib.pop(attribute, None)
        if refinements and not element.get("id"):
            element.set("id", _free_id(ids, etree.QName(element).localname))
            ids.add(element.get("id"))
        refined.append((element, refinements))
    for old in [m for m in metadata.findall(f"{OPF}meta") if m.get("property") == "dcterms:modified"]:
        metadata.remove(old)
    etree.cleanup_namespaces(metadata)  # the opf: prefix, used by nothing now, is not given to the new metas
    for element, refinements in refined:
        for meta, value in reversed(refinements):
            refine = etree.Element(f"{OPF}meta", refines=f"#{element.get('id')}", property=meta)
            if meta == "role":
                refine.set("scheme", "marc:relators")
            refine.text, refine.tail = value, element.tail
            element.addnext(refine)
    modified = etree.Element(f"{OPF}meta", property="dcterms:modified")
    modified.text = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if len(metadata) >= 2:  # indented as the others: the last one's tail indents the closing tag
        modified.tail, metadata[-1].tail = metadata[-1].tail, metadata[-2].tail
    metadata.append(modified)


def _document_properties(root: Any) -> set[str]:
    """What EPUB 3 asks the manifest to say of a document: it runs scripts, or holds SVG or MathML."""
    found = set()
    for element in root.iter():
        tag = element.tag if isinstance(element.tag, str) else ""
        if tag.startswith(_SVG):
            found.add("svg")
        elif tag.startswith(_MATHML):
            found.add("mathml")
        elif tag.rsplit("}", 1)[-1] == "script":
            found.add("scripted")
    return found


def _add_properties(item: Any, properties: set[str]) -> None:
    present = (item.get("properties") or "").split()
    if missing := sorted(properties - set(present)):
        item.set("properties", " ".join([*present, *missing]))


def _ncx_path(package: Any, base: str) -> str:
    spine = package.find(f"{OPF}spine")
    wanted = spine.get("toc") if spine is not None else None
    for item in package.find(f"{OPF}manifest").findall(f"{OPF}item"):
        if item.get("id") == wanted or (not wanted and item.get("media-type") == "application/x-dtbncx+xml"):
            return posixpath.normpath(posixpath.join(base, unquote(item.get("href", ""))))
    return ""


def _free_path(entries: dict[str, bytes], wanted: str) -> str:
    stem, extension = posixpath.splitext(wanted)
    number = 1
    while wanted in entries:
        number += 1
        wanted = f"{stem}-{number}{extension}"
    return wanted


def _free_id(ids: set[str | None], wanted: str) -> str:
    candidate, number = wanted, 1
    while candidate in ids:
        number += 1
        candidate = f"{wanted}-{number}"
    return candidate
