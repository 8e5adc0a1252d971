"""An EPUB 2 as older tools made them, written file by file (ebooklib writes EPUB 3 packages only).

XHTML 1.1 documents with their DOCTYPE, an NCX with nested entries and its DTD, `opf:role`, `opf:file-as`,
`opf:scheme` and two dated events on the metadata, an EPUB 2 cover `<meta>`, a guide, a title page outside the
reading order, a file name with a space, SVG inline and as an image, and prose with the markup marking meets:
`&#160;`, curly quotes, "…", a soft hyphen, a sentence ending inside `<em>`, a footnote link, `<br />`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

_XHTML11 = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.1//EN" "http://www.w3.org/TR/xhtml11/DTD/xhtml11.dtd">\n'
)
_CONTAINER = (
    '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
    '<rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles>'
    "</container>"
)
_OPF = """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="2.0" unique-identifier="BookId">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:opf="http://www.idpf.org/2007/opf">
    <dc:title>The North Wind and the Sun</dc:title>
    <dc:creator opf:role="aut" opf:file-as="Aesop">Aesop</dc:creator>
    <dc:contributor opf:role="trl">V. S. Vernon Jones</dc:contributor>
    <dc:language>en</dc:language>
    <dc:identifier id="BookId" opf:scheme="ISBN">9780000000002</dc:identifier>
    <dc:date opf:event="publication">1912</dc:date>
    <dc:date opf:event="modification">2020-01-01</dc:date>
    <meta name="cover" content="cover-image"/>
  </metadata>
  <manifest>
    <item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>
    <item id="css" href="styles/book.css" media-type="text/css"/>
    <item id="cover-image" href="images/cover.svg" media-type="image/svg+xml"/>
    <item id="title" href="text/title.xhtml" media-type="application/xhtml+xml"/>
    <item id="c1" href="text/chapter%201.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/chapter2.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine toc="ncx">
    <itemref idref="title" linear="no"/>
    <itemref idref="c1"/>
    <itemref idref="c2"/>
  </spine>
  <guide><reference type="title-page" title="Title" href="text/title.xhtml"/></guide>
</package>"""
_NCX = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE ncx PUBLIC "-//NISO//DTD ncx 2005-1//EN" "http://www.daisy.org/z3986/2005/ncx-2005-1.dtd">
<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/" version="2005-1">
  <head><meta name="dtb:uid" content="9780000000002"/><meta name="dtb:depth" content="2"/>
  <meta name="dtb:totalPageCount" content="0"/><meta name="dtb:maxPageNumber" content="0"/></head>
  <docTitle><text>The North Wind and the Sun</text></docTitle>
  <navMap>
    <navPoint id="n1" playOrder="1"><navLabel><text>The Wager</text></navLabel>
      <content src="text/chapter%201.xhtml"/>
      <navPoint id="n2" playOrder="2"><navLabel><text>The Sun’s turn</text></navLabel>
        <content src="text/chapter2.xhtml#sun"/></navPoint>
    </navPoint>
  </navMap>
</ncx>"""
_SVG = '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><circle cx="2" cy="2" r="1"/></svg>'
WAGER = (
    '<h1 id="top">The Wager</h1>'
    '<p class="first">The North Wind and the Sun were disputing which was the stronger, when a traveller came'
    " along the road, wrapped in a warm cloak.&#160;<em>“Let us agree,” said the Sun. That</em> he is the stronger"
    " who first makes the traveller take off his cloak.</p>"
    '<p>The North Wind blew with all his might.<a id="r1" href="chapter2.xhtml#n1"><sup>1</sup></a> The harder he'
    " blew, the closer the traveller wrapped his cloak around him…</p>"
    '<p>At last the Wind gave up.<br />Then came the Sun\u00ad’s turn: <span class="sc">he <b>shone</b> out</span>'
    " in all his warmth.</p>"
)
SUN = (
    '<h2 id="sun">The Sun’s turn</h2><div><p>The traveller no sooner felt the genial rays than he took off his'
    f" cloak.</p><blockquote><p>Persuasion is better than force.</p></blockquote>{_SVG}</div>"
    '<p id="n1"><a href="chapter%201.xhtml#r1">1.</a> A fable of Aesop.</p>'
)


def _page(title: str, body: str) -> str:
    return (
        f'{_XHTML11}<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en"><head><title>{title}</title>'
        f'<link rel="stylesheet" type="text/css" href="../styles/book.css"/></head><body>{body}</body></html>'
    )


def write_epub2(path: Path) -> Path:
    """The EPUB 2 described above, at `path`."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/container.xml", _CONTAINER)
        archive.writestr("OEBPS/content.opf", _OPF)
        archive.writestr("OEBPS/toc.ncx", _NCX)
        archive.writestr("OEBPS/styles/book.css", "p { text-indent: 1em; }\n")
        archive.writestr(
            "OEBPS/images/cover.svg",
            '<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"'
            ' "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n' + _SVG,
        )
        archive.writestr(
            "OEBPS/text/title.xhtml", _page("Title", '<div><img src="../images/cover.svg" alt="Cover"/></div>')
        )
        archive.writestr("OEBPS/text/chapter 1.xhtml", _page("The Wager", WAGER))
        archive.writestr("OEBPS/text/chapter2.xhtml", _page("The Sun’s turn", SUN))
    return path
