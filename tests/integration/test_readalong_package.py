"""package_readalong: a marked EPUB 3 and its narration become a read-along EPUB (Media Overlays).

Two books: one built here to be awkward (its package in a sub-folder, documents in folders, one with a space in its
name and one without a head, a `prefix` attribute, ids and a path the packager would otherwise pick), and the IDPF's
sample "Children's Literature" with a few paragraphs marked here. Each output is checked on its own terms with
zipfile and lxml, and by EPUBCheck (the e2e tests: each run starts Java, so the three run once, side by side).
"""

from __future__ import annotations

import dataclasses
import posixpath
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote, unquote

import av
import numpy as np
import pytest
from lxml import etree

from tests.support.epubcheck import Message, epubcheck
from tests.unit.test_words_cli import childrens_literature
from worker.audio.codec import encode_pcm16
from worker.books import readalong
from worker.books.readalong import Clip, Overlay, package_readalong

OPF_NS = "{http://www.idpf.org/2007/opf}"
XHTML_NS = "{http://www.w3.org/1999/xhtml}"
SMIL_NS = "{http://www.w3.org/ns/SMIL}"
RATE = 22_050
CONTAINER = """<?xml version="1.0" encoding="UTF-8"?>
<container xmlns="urn:oasis:names:tc:opendocument:xmlns:container" version="1.0">
  <rootfiles><rootfile full-path="OEBPS/content/book.opf" media-type="application/oebps-package+xml"/></rootfiles>
</container>
"""
# Ids and a path the packager would pick if they were free: it has to choose others.
PACKAGE = """<?xml version="1.0" encoding="UTF-8"?>
<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="uid" xml:lang="en"
  prefix="rendition: http://www.idpf.org/vocab/rendition/#">
  <metadata xmlns:dc="http://purl.org/dc/elements/1.1/">
    <dc:identifier id="uid">urn:uuid:8d6f3c1e-2b7a-4f0e-9a51-3c2d1e0f4a5b</dc:identifier>
    <dc:title id="narrate-audio-1">The Lighthouse Keeper</dc:title>
    <dc:creator>Test</dc:creator>
    <dc:language>en</dc:language>
    <meta property="dcterms:modified">2020-01-02T03:04:05Z</meta>
    <meta property="rendition:layout">reflowable</meta>
  </metadata>
  <manifest>
    <item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>
    <item id="narrate-readalong-css" href="css/narrate-readalong.css" media-type="text/css"/>
    <item id="title" href="text/title.xhtml" media-type="application/xhtml+xml"/>
    <item id="narrate-overlay-1" href="text/chapter-1.xhtml" media-type="application/xhtml+xml"/>
    <item id="c2" href="text/part%20two/chapter-1.xhtml" media-type="application/xhtml+xml"/>
    <item id="c3" href="text/chapter-3.xhtml" media-type="application/xhtml+xml"/>
  </manifest>
  <spine>
    <itemref idref="title"/>
    <itemref idref="narrate-overlay-1"/>
    <itemref idref="c2"/>
    <itemref idref="c3"/>
  </spine>
</package>
"""
DOCUMENT = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html>
<html xmlns="http://www.w3.org/1999/xhtml" xmlns:epub="http://www.idpf.org/2007/ops" lang="en" xml:lang="en">
{head}  <body>
{body}
  </body>
</html>
"""
NAV_BODY = """    <nav epub:type="toc"><h1>Contents</h1><ol>
      <li><a href="text/title.xhtml">Title</a></li>
      <li><a href="text/chapter-1.xhtml">The Lamp</a></li>
      <li><a href="text/part%20two/chapter-1.xhtml">The Storm</a></li>
      <li><a href="text/chapter-3.xhtml">The Morning</a></li>
    </ol></nav>"""


def sentence(p: int, k: int, text: str) -> str:
    return f'<span id="narrate-{p}-{k}" class="narrate-sentence">{text}</span>'


def head(title: str, stylesheet: str) -> str:
    return (
        f"  <head>\n    <title>{title}</title>\n"
        f'    <link rel="stylesheet" type="text/css" href="{stylesheet}"/>\n  </head>\n'
    )


# The documents (path in the zip -> text) and what is narrated: chapter 1 and part two's chapter 1 share one MP3,
# chapter 3 (which has no head) has an AAC file of its own; the title page is not narrated.
FOLDER = "OEBPS/content/"
DOCUMENTS = {
    "nav.xhtml": DOCUMENT.format(head=head("Contents", "css/narrate-readalong.css"), body=NAV_BODY),
    "text/title.xhtml": DOCUMENT.format(
        head=head("Title", "../css/narrate-readalong.css"), body="    <h1>The Lighthouse Keeper</h1>"
    ),
    "text/chapter-1.xhtml": DOCUMENT.format(
        head=head("The Lamp", "../css/narrate-readalong.css"),
        body=f"    <h1>{sentence(0, 0, 'The Lamp')}</h1>\n"
        f"    <p>{sentence(1, 0, 'The keeper climbed the stairs.')} {sentence(1, 1, 'He lit the lamp.')}</p>",
    ),
    "text/part two/chapter-1.xhtml": DOCUMENT.format(
        head=head("The Storm", "../../css/narrate-readalong.css"),
        body=f"    <p>{sentence(0, 0, 'The wind rose.')} {sentence(0, 1, 'Waves broke on the rocks.')}</p>",
    ),
    "text/chapter-3.xhtml": DOCUMENT.format(
        head="", body=f"    <p>{sentence(0, 0, 'Morning came.')} {sentence(0, 1, 'The sea was calm.')}</p>"
    ),
    "css/narrate-readalong.css": "body { margin: 0 5%; }\n",
}
OVERLAYS = [
    Overlay(
        FOLDER + "text/chapter-1.xhtml",
        "chapter-01.mp3",
        [Clip("narrate-0-0", 0.0, 0.75), Clip("narrate-1-0", 0.9, 1.6), Clip("narrate-1-1", 1.6, 2.05)],
    ),
    Overlay(
        FOLDER + "text/part two/chapter-1.xhtml",
        "chapter-01.mp3",
        [Clip("narrate-0-0", 2.2, 2.5), Clip("narrate-0-1", 2.5, 2.9996)],
    ),
    Overlay(
        FOLDER + "text/chapter-3.xhtml",
        "chapter-02.m4a",
        [Clip("narrate-0-0", 0.1, 0.9), Clip("narrate-0-1", 1.0, 1.9)],
    ),
]


def write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    """An EPUB zip: mimetype first and stored, the rest deflated, in the order given."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mimetype", b"application/epub+zip", compress_type=zipfile.ZIP_STORED)
        for name, data in entries.items():
            archive.writestr(name, data, compress_type=zipfile.ZIP_DEFLATED)
    return path


def marked_book(path: Path) -> Path:
    entries = {"META-INF/container.xml": CONTAINER.encode(), FOLDER + "book.opf": PACKAGE.encode()}
    return write_zip(path, entries | {FOLDER + name: text.encode() for name, text in DOCUMENTS.items()})


def tone(path: Path, seconds: float, *, hz: float = 440.0) -> Path:
    """A sine of `seconds`, as MP3 (.mp3) or AAC in MP4 (any other name)."""
    samples = (0.3 * np.sin(2 * np.pi * hz * np.arange(round(seconds * RATE)) / RATE)).astype(np.float32)
    if path.suffix == ".mp3":
        path.write_bytes(encode_pcm16((samples * 32767).astype("<i2").tobytes(), sample_rate=RATE, fmt="mp3"))
        return path
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=RATE)
        stream.layout = "mono"
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, 0, Fraction(1, RATE)
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            container.mux(packet)
    return path


@dataclass(frozen=True)
class Made:
    source: Path
    out: Path
    overlays: list[Overlay]
    audio: dict[str, Path]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Made:
    folder = tmp_path_factory.mktemp("readalong")
    audio = {"chapter-01.mp3": tone(folder / "one.mp3", 3.0), "chapter-02.m4a": tone(folder / "two.m4a", 2.0)}
    source, out = marked_book(folder / "marked.epub"), folder / "readalong.epub"
    package_readalong(source, OVERLAYS, audio=audio, out=out)
    return Made(source, out, OVERLAYS, audio)


# --- The sample book: the first paragraphs of its section IV, each marked as one sentence
SAMPLE_DOCUMENT = "EPUB/s04.xhtml"
SAMPLE_PARAGRAPHS = 4


def marked_sample(path: Path) -> tuple[Path, list[str]]:
    """The sample with its first paragraphs' content wrapped in sentence spans (lxml); the spans' ids."""
    with zipfile.ZipFile(childrens_literature()) as source:
        entries = {info.filename: source.read(info) for info in source.infolist() if info.filename != "mimetype"}
    tree = etree.ElementTree(etree.fromstring(entries[SAMPLE_DOCUMENT], etree.XMLParser(resolve_entities=False)))
    ids = []
    for number, paragraph in enumerate(tree.iter(f"{XHTML_NS}p")):
        if number == SAMPLE_PARAGRAPHS:
            break
        span = etree.Element(f"{XHTML_NS}span", id=f"narrate-{number}-0", attrib={"class": "narrate-sentence"})
        span.text, paragraph.text = paragraph.text, None
        span.extend(list(paragraph))
        paragraph.append(span)
        ids.append(span.get("id"))
    entries[SAMPLE_DOCUMENT] = etree.tostring(tree, xml_declaration=True, encoding="UTF-8")
    return write_zip(path, entries), ids


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Made:
    folder = tmp_path_factory.mktemp("sample")
    source, ids = marked_sample(folder / "marked.epub")
    clips = [Clip(fragment, 0.5 * n, 0.5 * n + 0.4) for n, fragment in enumerate(ids)]
    overlays = [Overlay(SAMPLE_DOCUMENT, "section-4.mp3", clips)]
    audio = {"section-4.mp3": tone(folder / "section.mp3", 2.5, hz=523.0)}
    out = folder / "readalong.epub"
    package_readalong(source, overlays, audio=audio, out=out)
    return Made(source, out, overlays, audio)


# --- What the package holds, read with zipfile and lxml only


def parsed(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


@dataclass(frozen=True)
class Opened:
    infos: list[zipfile.ZipInfo]
    entries: dict[str, bytes]
    opf_path: str
    opf: etree._Element

    def resolve(self, href: str, *, source: str) -> tuple[str, str]:
        """The zip entry an href in the entry `source` points at, and its fragment."""
        path, _, fragment = href.partition("#")
        return posixpath.normpath(posixpath.join(posixpath.dirname(source), unquote(path))), unquote(fragment)

    def item(self, **attributes: str) -> etree._Element:
        found = [i for i in self.opf.iter(f"{OPF_NS}item") if all(i.get(k) == v for k, v in attributes.items())]
        assert len(found) == 1, attributes
        return found[0]

    def path_of(self, item: etree._Element) -> str:
        return self.resolve(item.get("href"), source=self.opf_path)[0]

    def metas(self, prop: str) -> list[etree._Element]:
        return [m for m in self.opf.iter(f"{OPF_NS}meta") if m.get("property") == prop]


def opened(path: Path) -> Opened:
    with zipfile.ZipFile(path) as archive:
        infos = archive.infolist()
        entries = {info.filename: archive.read(info) for info in infos}
    container = parsed(entries["META-INF/container.xml"])
    opf_path = next(container.iter("{*}rootfile")).get("full-path")
    return Opened(infos, entries, opf_path, parsed(entries[opf_path]))


def smil_of(book: Opened, document: str) -> tuple[str, etree._Element]:
    item = next(i for i in book.opf.iter(f"{OPF_NS}item") if book.path_of(i) == document)
    overlay = book.item(id=item.get("media-overlay"))
    assert overlay.get("media-type") == "application/smil+xml"
    return book.path_of(overlay), parsed(book.entries[book.path_of(overlay)])


def milliseconds(overlay: Overlay) -> int:
    return sum(round(clip.end * 1000) - round(clip.begin * 1000) for clip in overlay.clips)


def clock(ms: int) -> str:
    return f"{ms // 3_600_000}:{ms // 60_000 % 60:02d}:{ms // 1000 % 60:02d}.{ms % 1000:03d}"


@pytest.fixture(params=["built", "sample"])
def made(request: pytest.FixtureRequest) -> Made:
    return request.getfixturevalue(request.param)


def test_mimetype_first_and_stored_audio_stored_the_rest_deflated(made: Made) -> None:
    book = opened(made.out)
    first = book.infos[0]
    assert first.filename == "mimetype" and first.compress_type == zipfile.ZIP_STORED and not first.extra
    assert book.entries["mimetype"] == b"application/epub+zip"
    audio = {book.path_of(i) for i in book.opf.iter(f"{OPF_NS}item") if i.get("media-type").startswith("audio/")}
    assert len(audio) == len(made.audio)
    with zipfile.ZipFile(made.source) as source:
        before = {info.filename: info.compress_type for info in source.infolist()}
    for info in book.infos[1:]:
        expected = zipfile.ZIP_STORED if info.filename in audio else before.get(info.filename, zipfile.ZIP_DEFLATED)
        assert info.compress_type == expected, info.filename
    assert sorted(book.entries[path] for path in audio) == sorted(file.read_bytes() for file in made.audio.values())
    assert not [p for p in made.out.parent.iterdir() if p.name.endswith(".part")]


def added_stylesheet(book: Opened, source: Opened) -> str:
    (css,) = [
        book.path_of(i)
        for i in book.opf.iter(f"{OPF_NS}item")
        if i.get("media-type") == "text/css" and book.path_of(i) not in source.entries
    ]
    return css


def test_entries_unchanged_but_the_package_and_a_stylesheet_link_in_each_narrated_document(made: Made) -> None:
    book, source = opened(made.out), opened(made.source)
    narrated = {posixpath.normpath(overlay.document) for overlay in made.overlays}
    css = added_stylesheet(book, source)
    for name, data in source.entries.items():
        if name == source.opf_path:
            continue
        if name not in narrated:
            assert book.entries[name] == data, name
            continue
        link = quote(posixpath.relpath(css, posixpath.dirname(name)))
        element = f'<link rel="stylesheet" type="text/css" href="{link}"/>'.encode()
        without, count = re.subn(rb"(\n[ \t]*)?" + re.escape(element), b"", book.entries[name])
        assert count == 1, name
        assert without.replace(b"<head></head>", b"") == data, name  # a head is added only where there was none


def test_every_par_points_at_its_sentence_and_at_its_clip(made: Made) -> None:
    book = opened(made.out)
    audio_types = {book.path_of(i): i.get("media-type") for i in book.opf.iter(f"{OPF_NS}item")}
    for overlay in made.overlays:
        path, smil = smil_of(book, posixpath.normpath(overlay.document))
        assert smil.tag == f"{SMIL_NS}smil" and smil.get("version") == "3.0"
        assert smil.nsmap == {None: SMIL_NS[1:-1], "epub": "http://www.idpf.org/2007/ops"}
        pars = list(smil.find(f"{SMIL_NS}body"))
        assert [par.tag for par in pars] == [f"{SMIL_NS}par"] * len(overlay.clips)
        assert len({par.get("id") for par in pars}) == len(pars)
        for par, clip in zip(pars, overlay.clips, strict=True):
            document, fragment = book.resolve(par.find(f"{SMIL_NS}text").get("src"), source=path)
            assert document == posixpath.normpath(overlay.document) and fragment == clip.fragment
            assert parsed(book.entries[document]).xpath("//*[@id=$id]", id=fragment), fragment
            sound = par.find(f"{SMIL_NS}audio")
            audio, _ = book.resolve(sound.get("src"), source=path)
            assert book.entries[audio] == made.audio[overlay.audio].read_bytes()
            assert audio_types[audio] == ("audio/mpeg" if audio.endswith(".mp3") else "audio/mp4")
            assert (sound.get("clipBegin"), sound.get("clipEnd")) == (f"{clip.begin:.3f}s", f"{clip.end:.3f}s")


def test_overlay_metadata_durations_and_the_highlight(made: Made) -> None:
    book, source = opened(made.out), opened(made.source)
    durations = {m.get("refines"): m.text for m in book.metas("media:duration")}
    expected = {}
    for overlay in made.overlays:
        item = next(
            i for i in book.opf.iter(f"{OPF_NS}item") if book.path_of(i) == posixpath.normpath(overlay.document)
        )
        expected["#" + item.get("media-overlay")] = clock(milliseconds(overlay))
    expected[None] = clock(sum(milliseconds(overlay) for overlay in made.overlays))
    assert durations == expected
    (active,) = book.metas("media:active-class")
    assert active.text == "narrate-active" and active.get("refines") is None
    css = book.entries[added_stylesheet(book, source)].decode()
    assert re.search(r"\.narrate-active\s*\{[^}]*background-color", css)
    (modified,) = book.metas("dcterms:modified")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", modified.text)
    assert modified.text != source.metas("dcterms:modified")[0].text
    assert book.opf.get("prefix") == source.opf.get("prefix")
    ids = [element.get("id") for element in book.opf.iter() if element.get("id")]
    assert len(ids) == len(set(ids))


def test_the_awkward_book_got_fresh_ids_and_paths(built: Made) -> None:
    book = opened(built.out)
    paths = sorted(book.path_of(i) for i in book.opf.iter(f"{OPF_NS}item") if i.get("id", "").startswith("narrate-"))
    assert paths == [
        "OEBPS/content/audio/chapter-01.mp3",
        "OEBPS/content/audio/chapter-02.m4a",
        "OEBPS/content/css/narrate-readalong-2.css",
        "OEBPS/content/css/narrate-readalong.css",  # the publisher's, under the id the packager would have used
        "OEBPS/content/overlays/chapter-1-2.smil",  # text/part two/chapter-1.xhtml
        "OEBPS/content/overlays/chapter-1.smil",
        "OEBPS/content/overlays/chapter-3.smil",
        "OEBPS/content/text/chapter-1.xhtml",  # the publisher's narrate-overlay-1
    ]
    assert book.entries["OEBPS/content/text/chapter-3.xhtml"].count(b"<head><link ") == 1


# --- EPUBCheck: the two outputs and the sample as published, checked side by side (each run starts a JVM)


@pytest.fixture(scope="module")
def checked(built: Made, sample: Made) -> dict[str, list[Message]]:
    books = {"built": built.out, "sample": sample.out, "published sample": childrens_literature()}
    with ThreadPoolExecutor(len(books)) as pool:
        return dict(zip(books, pool.map(epubcheck, books.values()), strict=True))


def errors(messages: list[Message]) -> list[Message]:
    return [m for m in messages if m.severity in ("FATAL", "ERROR")]


@pytest.mark.e2e
def test_epubcheck_passes_the_built_book(checked: dict[str, list[Message]]) -> None:
    assert errors(checked["built"]) == [], "\n".join(map(str, checked["built"]))
    # Warnings about the book as it was built: a file name with a space (PKG-010), and the head-less document given
    # a head that holds only the link, where EPUBCheck would like a title too (RSC-017)
    assert {(m.id, m.where.split(":")[0]) for m in checked["built"]} == {
        ("PKG-010", "OEBPS/content/text/part two/chapter-1.xhtml"),
        ("RSC-017", "OEBPS/content/text/chapter-3.xhtml"),
    }, "\n".join(map(str, checked["built"]))


@pytest.mark.e2e
def test_epubcheck_finds_no_error_in_the_sample_beyond_its_own(checked: dict[str, list[Message]]) -> None:
    # The sample as published has one error of its own: its toc.ncx gives pageTargets the type "page", which the
    # NCX schema does not allow ("front", "normal" or "special"); the read-along leaves that file as it was.
    published = errors(checked["published sample"])
    assert [(m.id, m.where.split(":")[0]) for m in published] == [("RSC-005", "EPUB/toc.ncx")], published
    assert errors(checked["sample"]) == published, "\n".join(map(str, checked["sample"]))
    assert [m for m in checked["sample"] if m not in checked["published sample"]] == []


# --- A caller's mistakes: ValueError, saying what is wrong, and nothing written


def replaced(overlay: int, **changes: object) -> list[Overlay]:
    overlays = list(OVERLAYS)
    overlays[overlay] = dataclasses.replace(overlays[overlay], **changes)
    return overlays


FIRST = OVERLAYS[0].clips
MISTAKES = {
    "overlap": (replaced(0, clips=[FIRST[0], Clip("narrate-1-0", 0.7, 1.6)]), "before the previous one ends"),
    "out of order": (replaced(0, clips=[FIRST[1], FIRST[0]]), "before the previous one ends"),
    "empty clip": (replaced(0, clips=[Clip("narrate-0-0", 1.0, 1.0004)]), "before it ends"),
    "past the audio": (replaced(1, clips=[Clip("narrate-0-0", 2.5, 3.2)]), "past the end of chapter-01.mp3"),
    "not a number": (replaced(1, clips=[Clip("narrate-0-0", float("nan"), 1.0)]), "must be numbers"),
    "no clips": (replaced(2, clips=[]), "has no clips"),
    "unknown id": (replaced(1, clips=[Clip("narrate-9-9", 0.0, 1.0)]), "has no element with the id narrate-9-9"),
    "two overlays, one document": (replaced(1, document=OVERLAYS[0].document), "a document has one overlay"),
    "not in the book": (replaced(1, document=FOLDER + "text/nowhere.xhtml"), "not a document of the package"),
    "not a document": (replaced(1, document=FOLDER + "css/narrate-readalong.css"), "not an XHTML content document"),
    "audio not given": (replaced(2, audio="chapter-09.mp3"), "not given: chapter-09.mp3"),
    "no overlays": ([], "no overlays"),
}


@pytest.mark.parametrize("name", MISTAKES)
def test_a_mistake_is_a_value_error(built: Made, tmp_path: Path, name: str) -> None:
    overlays, message = MISTAKES[name]
    audio = {name: file for name, file in built.audio.items() if any(o.audio == name for o in overlays)}
    with pytest.raises(ValueError, match=re.escape(message)):
        package_readalong(built.source, overlays, audio=audio, out=tmp_path / "readalong.epub")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("audio", "message"),
    [
        ({"chapter-02.wav": "two.m4a"}, "EPUB readers play MP3 (.mp3) or AAC in MP4 (.m4a, .m4b, .mp4)"),
        ({"chapter-02.mp3": "two.m4a"}, "holds aac, not what its name promises (audio/mpeg)"),
        ({"sub/chapter-02.m4a": "two.m4a"}, "is not a plain file name"),
    ],
)
def test_audio_readers_cannot_play_or_misnamed_is_a_value_error(
    built: Made, tmp_path: Path, audio: dict[str, str], message: str
) -> None:
    ((name, file),) = audio.items()
    overlays = replaced(2, audio=name)
    files = {"chapter-01.mp3": built.audio["chapter-01.mp3"], name: built.source.parent / file}
    with pytest.raises(ValueError, match=re.escape(message)):
        package_readalong(built.source, overlays, audio=files, out=tmp_path / "readalong.epub")
    assert list(tmp_path.iterdir()) == []


def test_audio_no_overlay_uses_is_a_value_error(built: Made, tmp_path: Path) -> None:
    audio = built.audio | {"extra.mp3": built.audio["chapter-01.mp3"]}
    with pytest.raises(ValueError, match="audio files given that no overlay uses: extra.mp3"):
        package_readalong(built.source, OVERLAYS, audio=audio, out=tmp_path / "readalong.epub")


def test_an_epub_2_package_one_with_overlays_already_or_another_media_prefix_is_refused(
    built: Made, tmp_path: Path
) -> None:
    entries = {name: data for name, data in opened(built.source).entries.items() if name != "mimetype"}
    opf = FOLDER + "book.opf"
    old = write_zip(tmp_path / "old.epub", entries | {opf: entries[opf].replace(b'version="3.0"', b'version="2.0"')})
    with pytest.raises(ValueError, match=r"not an EPUB 3 package \(version '2.0'\); upgrade it first"):
        package_readalong(old, OVERLAYS, audio=built.audio, out=tmp_path / "readalong.epub")
    media = entries[opf].replace(b'prefix="', b'prefix="media: http://example.com/media# ')
    other = write_zip(tmp_path / "other.epub", entries | {opf: media})
    with pytest.raises(ValueError, match="its prefix attribute maps media: to http://example.com/media#, not to"):
        package_readalong(other, OVERLAYS, audio=built.audio, out=tmp_path / "readalong.epub")
    with pytest.raises(ValueError, match="the book has Media Overlays already"):
        package_readalong(built.out, OVERLAYS, audio=built.audio, out=tmp_path / "readalong.epub")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.epub", "other.epub"]


def test_a_failure_while_writing_leaves_the_previous_book_as_it_was(
    built: Made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "readalong.epub"
    out.write_bytes(b"the previous book")

    def broken(archive: zipfile.ZipFile, name: str, path: Path) -> None:
        archive.writestr(name, b"half")
        raise OSError("No space left on device")

    monkeypatch.setattr(readalong, "store_file", broken)
    with pytest.raises(OSError, match="No space left"):
        package_readalong(built.source, OVERLAYS, audio=built.audio, out=out)
    assert [p.name for p in tmp_path.iterdir()] == ["readalong.epub"] and out.read_bytes() == b"the previous book"
