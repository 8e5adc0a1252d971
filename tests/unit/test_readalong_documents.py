"""A narrated document's one edit (the highlight's stylesheet linked from its head), its SMIL overlay, and the times
and names a read-along package writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from lxml import etree

from worker.books.readalong_clips import AudioFile, Clip, Overlay, TimedClip, clock_value, timecount, timed_clips
from worker.books.readalong_documents import linked_document, smil
from worker.books.readalong_package import unique

XHTML = "http://www.w3.org/1999/xhtml"
START = f'<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n<html xmlns="{XHTML}" lang="en">\n'
BODY = '  <body><p><span id="narrate-0-0">Hello.</span></p></body>\n</html>\n'
LINK = '<link rel="stylesheet" type="text/css" href="../css/readalong.css"/>'


def linked(text: str, *, path: str = "EPUB/text/c1.xhtml", fragments: tuple[str, ...] = ("narrate-0-0",)) -> str:
    return linked_document(text.encode(), path=path, fragments=fragments, stylesheet="EPUB/css/readalong.css").decode()


def test_the_link_goes_last_in_the_head_on_a_line_of_its_own() -> None:
    head = '  <head>\n    <title>One</title>\n    <link rel="stylesheet" href="../css/book.css"/>\n  </head>\n'
    edited = head.replace("  </head>", f"    {LINK}\n  </head>")
    assert linked(START + head + BODY) == START + edited + BODY


def test_a_head_ending_in_a_comment_keeps_it_before_the_link() -> None:
    head = "  <head>\n    <title>One</title>\n    <!-- the publisher's note -->\n  </head>\n"
    edited = head.replace("  </head>", f"    {LINK}\n  </head>")
    assert linked(START + head + BODY) == START + edited + BODY


def test_a_head_on_one_line_an_empty_head_and_no_head() -> None:
    assert linked(START + "<head><title>One</title></head>" + BODY) == (
        START + f"<head><title>One</title>{LINK}</head>" + BODY
    )
    assert linked(START + '<head profile="x"/>' + BODY) == START + f'<head profile="x">{LINK}</head>' + BODY
    # no head: one is added right after the html start tag, whatever its attributes hold
    start = START.replace('lang="en"', 'lang="en" data-note="a > b"')
    assert linked(start + BODY) == start.rstrip("\n") + f"<head>{LINK}</head>\n" + BODY


def test_a_prefixed_xhtml_document_gets_a_prefixed_link() -> None:
    text = (
        f'<h:html xmlns:h="{XHTML}"><h:head><h:title>One</h:title></h:head>'
        '<h:body><h:p id="narrate-0-0">Hello.</h:p></h:body></h:html>'
    )
    edited = linked(text, path="EPUB/c1.xhtml")
    assert (
        '<h:title>One</h:title><h:link rel="stylesheet" type="text/css" href="css/readalong.css"/></h:head>' in edited
    )


def test_a_head_the_text_search_would_misplace_is_edited_as_a_tree() -> None:
    text = START + "  <head><!-- </head> --><title>One</title></head>\n" + BODY
    edited = linked(text)
    head = etree.fromstring(edited.encode()).find(f"{{{XHTML}}}head")
    assert [child.tag for child in head][-2:] == [f"{{{XHTML}}}title", f"{{{XHTML}}}link"]
    assert head[-1].get("href") == "../css/readalong.css" and "<!DOCTYPE html>" in edited
    assert edited.count("Hello.") == 1


def test_the_link_is_relative_and_escaped() -> None:
    edited = linked(START + "<head><title>One</title></head>" + BODY, path="EPUB/text/part two/c1.xhtml")
    assert 'href="../../css/readalong.css"' in edited
    text = START + "<head><title>One</title></head>" + BODY
    assert (
        'href="css%20files/readalong.css"'
        in linked_document(
            text.encode(), path="OPS/c1.xhtml", fragments=(), stylesheet="OPS/css files/readalong.css"
        ).decode()
    )


@pytest.mark.parametrize(
    ("text", "fragments", "message"),
    [
        (
            START + BODY,
            ("narrate-0-0", "narrate-0-1", "narrate-1-0"),
            "has no element with the id narrate-0-1, narrate-1-0",
        ),
        ('<svg xmlns="http://www.w3.org/2000/svg"/>', (), "not an XHTML document"),
        (START + "<body><p>Hello.</body></html>", (), "not well-formed XML"),
    ],
)
def test_a_document_that_cannot_be_narrated_is_a_value_error(
    text: str, fragments: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        linked(text, fragments=fragments)


def test_the_overlay_points_at_sentences_and_clips_relative_to_itself() -> None:
    clips = [TimedClip("narrate-0-0", 0, 1250, "ch.mp3"), TimedClip("narrate-0-1", 1250, 61_005, "ch.mp3")]
    places = {"ch.mp3": "EPUB/audio/ch.mp3"}
    root = etree.fromstring(
        smil(path="EPUB/overlays/c1.smil", document="EPUB/text/c 1.xhtml", audio=places, clips=clips)
    )
    pars = root.findall("{http://www.w3.org/ns/SMIL}body/{http://www.w3.org/ns/SMIL}par")
    assert [
        (p.get("id"), p[0].get("src"), p[1].get("src"), p[1].get("clipBegin"), p[1].get("clipEnd")) for p in pars
    ] == [
        ("par-1", "../text/c%201.xhtml#narrate-0-0", "../audio/ch.mp3", "0.000s", "1.250s"),
        ("par-2", "../text/c%201.xhtml#narrate-0-1", "../audio/ch.mp3", "1.250s", "61.005s"),
    ]


def test_clock_values_and_timecounts() -> None:
    assert [clock_value(ms) for ms in (0, 1, 61_005, 3_723_456, 36_000_000)] == [
        "0:00:00.000",
        "0:00:00.001",
        "0:01:01.005",
        "1:02:03.456",
        "10:00:00.000",
    ]
    assert [timecount(ms) for ms in (0, 5, 1234, 3_723_456)] == ["0.000s", "0.005s", "1.234s", "3723.456s"]


def test_clip_times_are_rounded_to_the_millisecond_and_may_end_at_the_audio_end() -> None:
    audio = {"ch.mp3": AudioFile("ch.mp3", Path("ch.mp3"), "audio/mpeg", milliseconds=3000)}
    overlay = Overlay("c1.xhtml", "ch.mp3", [Clip("a", 0.0004, 1.2344), Clip("b", 1.2344, 3.0009)])
    assert timed_clips(overlay, audio) == [TimedClip("a", 0, 1234, "ch.mp3"), TimedClip("b", 1234, 3001, "ch.mp3")]
    with pytest.raises(ValueError, match=r"c1.xhtml#b: the clip ends at 3.002 s, past the end of ch.mp3 \(3.0 s\)"):
        timed_clips(Overlay("c1.xhtml", "ch.mp3", [Clip("b", 1.0, 3.002)]), audio)
    with pytest.raises(ValueError, match="start at 0 s or later"):
        timed_clips(Overlay("c1.xhtml", "ch.mp3", [Clip("a", -0.5, 1.0)]), audio)


def test_a_document_cut_into_two_chapter_files_has_clips_in_both() -> None:
    audio = {name: AudioFile(name, Path(name), "audio/mpeg", milliseconds=5000) for name in ("001.mp3", "002.mp3")}
    overlay = Overlay("c1.xhtml", "001.mp3", [Clip("a", 1.0, 4.0), Clip("b", 0.5, 2.0, audio="002.mp3")])

    timed = timed_clips(overlay, audio)
    root = etree.fromstring(
        smil(path="EPUB/o/c1.smil", document="EPUB/c1.xhtml", audio={n: f"EPUB/audio/{n}" for n in audio}, clips=timed)
    )

    assert timed == [TimedClip("a", 1000, 4000, "001.mp3"), TimedClip("b", 500, 2000, "002.mp3")]
    sources = [a.get("src") for a in root.iter("{http://www.w3.org/ns/SMIL}audio")]
    assert sources == ["../audio/001.mp3", "../audio/002.mp3"]
    with pytest.raises(ValueError, match="before the previous one ends"):
        timed_clips(Overlay("c1.xhtml", "001.mp3", [Clip("a", 1.0, 4.0), Clip("b", 0.5, 2.0)]), audio)


def test_unique_names_and_ids() -> None:
    taken = {"epub/css/a.css", "epub/css/a-2.css"}
    assert unique("EPUB/css/A.css", taken, fold=True) == "EPUB/css/A-3.css" and "epub/css/a-3.css" in taken
    assert unique("EPUB/overlays/c1.smil", taken, fold=True) == "EPUB/overlays/c1.smil"
    ids = {"nav", "narrate-audio-1"}
    assert [unique("narrate-audio-1", ids), unique("narrate-audio-1", ids), unique("css", ids)] == [
        "narrate-audio-1-2",
        "narrate-audio-1-3",
        "css",
    ]
