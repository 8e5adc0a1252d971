"""EPUB files as zip archives: the entries read in order, written whole or not at all, and XHTML serialized."""

from __future__ import annotations

import os
import posixpath
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from lxml import etree

MIMETYPE = b"application/epub+zip"
CONTAINER = "META-INF/container.xml"
_CONTAINER_NS = "{urn:oasis:names:tc:opendocument:xmlns:container}"
XHTML_NS = "http://www.w3.org/1999/xhtml"
OPS_NS = "http://www.idpf.org/2007/ops"
_XML_NS = "http://www.w3.org/XML/1998/namespace"
_FOREIGN = {"svg": "http://www.w3.org/2000/svg", "math": "http://www.w3.org/1998/Math/MathML"}


def read_entries(file: Path) -> dict[str, bytes]:
    """Every file of the archive by its path, in the archive's order."""
    with zipfile.ZipFile(file) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist() if not info.is_dir()}


def package_path(entries: dict[str, bytes]) -> str:
    """The path of the package document (the OPF), as META-INF/container.xml names it."""
    root = parse_xml(entries[CONTAINER])
    rootfile = root.find(f"{_CONTAINER_NS}rootfiles/{_CONTAINER_NS}rootfile")
    return rootfile.get("full-path") if rootfile is not None else ""


def write_epub(out: Path, entries: dict[str, bytes]) -> None:
    """The archive at `out`, `mimetype` first and stored as EPUB requires; written beside it, then renamed."""
    out.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".part", dir=out.parent)
    os.close(handle)
    try:
        with zipfile.ZipFile(temporary, "w") as archive:
            archive.writestr(zipfile.ZipInfo("mimetype"), MIMETYPE, compress_type=zipfile.ZIP_STORED)
            for name, data in entries.items():
                if name != "mimetype":
                    archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
        os.replace(temporary, out)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def parse_xml(data: bytes) -> Any:
    # Untrusted input: no entity expansion, no network; a fresh parser, as lxml parsers are not thread-safe.
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def xhtml_bytes(root: Any, *, html5_doctype: bool = False) -> bytes:
    """The document as XHTML: a document read with the HTML parser is put in the XHTML namespace first.

    `html5_doctype` replaces an older DOCTYPE (XHTML 1.1, EPUB 2's) with EPUB 3's `<!DOCTYPE html>`.
    """
    if not root.tag.startswith("{"):
        root = _as_xhtml(root)
        html5_doctype = True
    tree = root.getroottree()
    doctype = "<!DOCTYPE html>" if html5_doctype else tree.docinfo.doctype or None
    return etree.tostring(tree, xml_declaration=True, encoding="utf-8", doctype=doctype)


def relative_href(target: str, *, base_document: str) -> str:
    """The href from the document at `base_document` to the file at `target` (both paths inside the zip)."""
    return posixpath.relpath(target, posixpath.dirname(base_document) or ".")


def _as_xhtml(root: Any) -> Any:
    """A copy of an HTML-parsed document as an XHTML tree.

    Elements go in the XHTML namespace (SVG and MathML in theirs), prefixed attributes (`epub:type`, `xml:lang`)
    in theirs; namespace declarations the HTML parser kept as attributes, and other prefixes, are dropped.
    """
    known = {"epub": OPS_NS, "xml": _XML_NS}
    out = etree.Element(f"{{{XHTML_NS}}}html", nsmap={None: XHTML_NS, "epub": OPS_NS})

    def copy(source: Any, target: Any, namespace: str) -> None:
        target.text = source.text
        for name, value in source.attrib.items():
            prefix, _, local = name.rpartition(":")
            if not prefix and name != "xmlns":
                target.set(name, value)
            elif prefix in known:
                target.set(f"{{{known[prefix]}}}{local}", value)
        for child in source:
            if isinstance(child.tag, str):
                local = child.tag.rpartition(":")[2]
                inner = _FOREIGN.get(local, namespace)
                made = etree.SubElement(target, f"{{{inner}}}{local}", nsmap={None: inner})
                copy(child, made, inner)
            elif child.tag is etree.PI:
                made = etree.ProcessingInstruction(child.target, child.text)
                target.append(made)
            else:
                made = etree.Comment(child.text if child.tag is etree.Comment else "")
                target.append(made)
            made.tail = child.tail

    copy(root, out, XHTML_NS)
    return out
