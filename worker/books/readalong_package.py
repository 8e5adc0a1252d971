"""The package document of an EPUB 3, found through META-INF/container.xml: its manifest read, new items and
Media Overlay metadata added.

Untrusted XML is parsed without entity expansion and without network access.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, unquote

from lxml import etree

_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_XHTML_TYPE = "application/xhtml+xml"
_SMIL_TYPE = "application/smil+xml"
_MEDIA = "http://www.idpf.org/epub/vocab/overlays/#"  # the vocabulary of media:duration and media:active-class


def parse_xml(data: bytes, *, name: str) -> Any:
    """The document's tree, or ValueError when it is not well-formed XML."""
    try:
        return etree.ElementTree(
            etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False))
        )
    except etree.XMLSyntaxError as exc:
        raise ValueError(f"{name}: not well-formed XML ({exc})") from exc


def declared(tree: Any) -> bytes:
    """The document in UTF-8 after an XML declaration saying so; what precedes its root (a doctype) kept."""
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + etree.tostring(tree, encoding="UTF-8") + b"\n"


def unique(wanted: str, taken: set[str], *, fold: bool = False) -> str:
    """`wanted`, or the first of wanted-2, wanted-3, … (before its extension) not in `taken`; added to `taken`."""
    stem, extension = posixpath.splitext(wanted) if fold else (wanted, "")
    candidate, number = wanted, 1
    while (candidate.casefold() if fold else candidate) in taken:
        number += 1
        candidate = f"{stem}-{number}{extension}"
    taken.add(candidate.casefold() if fold else candidate)
    return candidate


@dataclass(frozen=True)
class Item:
    element: Any  # the manifest's <item>
    id: str
    path: str  # inside the zip
    media_type: str


class Package:
    """The OPF of the EPUB in `archive`: read once, edited in place, serialized by `data()`."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self.path = _opf_path(archive)
        self.folder = posixpath.dirname(self.path)
        self.tree = parse_xml(archive.read(self.path), name=self.path)
        root = self.tree.getroot()
        if root.tag != f"{_OPF}package" or not root.get("version", "").startswith("3"):
            raise ValueError(f"{self.path}: not an EPUB 3 package (version {root.get('version')!r}); upgrade it first")
        self.metadata = _child(root, "metadata")
        self.manifest = _child(root, "manifest")
        self.ids = {element.get("id") for element in root.iter(tag=etree.Element) if element.get("id")}
        self.items = {item.path: item for element in self.manifest.iter(f"{_OPF}item") if (item := self._item(element))}
        self._check_no_overlays(root.get("prefix", ""))

    def _check_no_overlays(self, prefixes: str) -> None:
        """Refuse a book with overlays of its own (its durations and active class would clash with the new ones), or
        whose `prefix` attribute gives `media:` another meaning than the one EPUB 3 reserves it for."""
        declared = dict(re.findall(r"([\w.-]+):\s+(\S+)", prefixes))
        if declared.get("media", _MEDIA) != _MEDIA:
            raise ValueError(f"{self.path}: its prefix attribute maps media: to {declared['media']}, not to {_MEDIA}")
        overlaid = [i.path for i in self.items.values() if i.media_type == _SMIL_TYPE or i.element.get("media-overlay")]
        if overlaid:
            raise ValueError(f"{self.path}: the book has Media Overlays already ({', '.join(overlaid)})")

    def _item(self, element: Any) -> Item | None:
        href = element.get("href")
        if not href or "://" in href:
            return None  # remote resources are not in the zip
        path = posixpath.normpath(posixpath.join(self.folder, unquote(href.split("#", 1)[0])))
        return Item(element, element.get("id", ""), path, element.get("media-type", ""))

    def document(self, path: str) -> Item:
        """The manifest item of the XHTML document at `path` in the zip."""
        item = self.items.get(path)
        if item is None:
            raise ValueError(f"{path}: not a document of the package ({self.path} lists no such item)")
        if item.media_type != _XHTML_TYPE:
            raise ValueError(f"{path}: is {item.media_type}, not an XHTML content document")
        return item

    def add_item(self, path: str, *, id_wanted: str, media_type: str) -> str:
        """A new manifest item for the file at `path` in the zip; its (unique) id."""
        item_id = unique(id_wanted, self.ids)
        href = quote(posixpath.relpath(path, self.folder or "."))
        _append(self.manifest, "item", {"id": item_id, "href": href, "media-type": media_type})
        return item_id

    def add_meta(self, prop: str, value: str, *, refines: str | None = None) -> None:
        attributes = {"property": prop} | ({"refines": f"#{refines}"} if refines else {})
        _append(self.metadata, "meta", attributes).text = value

    def touch(self, now: datetime | None = None) -> None:
        """dcterms:modified set to now (UTC, to the second), added when the package has none."""
        stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        found = [
            meta
            for meta in self.metadata.iter(f"{_OPF}meta")
            if meta.get("property") == "dcterms:modified" and not meta.get("refines")
        ]
        for meta in found:
            meta.text = stamp
        if not found:
            self.add_meta("dcterms:modified", stamp)

    def data(self) -> bytes:
        return declared(self.tree)


def _opf_path(archive: zipfile.ZipFile) -> str:
    try:
        container = parse_xml(archive.read("META-INF/container.xml"), name="META-INF/container.xml")
    except KeyError:
        raise ValueError("not an EPUB: META-INF/container.xml is missing") from None
    for rootfile in container.getroot().iter(f"{_CONTAINER}rootfile"):
        if rootfile.get("media-type") == "application/oebps-package+xml" and rootfile.get("full-path"):
            path = posixpath.normpath(unquote(rootfile.get("full-path")))
            if path not in archive.namelist():
                raise ValueError(f"META-INF/container.xml names {path}, which the EPUB does not hold")
            return path
    raise ValueError("META-INF/container.xml names no package document")


def _child(root: Any, name: str) -> Any:
    found = root.find(f"{_OPF}{name}")
    if found is None:
        raise ValueError(f"the package document has no <{name}>")
    return found


def _append(parent: Any, name: str, attributes: dict[str, str]) -> Any:
    """A new OPF element at the end of `parent`, indented as its siblings are."""
    last = parent[-1] if len(parent) else None
    element = etree.SubElement(parent, f"{_OPF}{name}", attributes)
    if last is not None and parent.text is not None and not parent.text.strip():
        element.tail, last.tail = last.tail, parent.text
    return element
