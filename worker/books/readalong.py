"""The read-along EPUB (EPUB 3 Media Overlays): the publisher's book with the narration inside it, so that a
reading system highlights each sentence as it is heard.

`package_readalong` takes the marked EPUB (every narrated sentence an element with an id), one Overlay per narrated
document (its sentences' clips, all in one audio file) and the audio files. The package it writes holds the marked
EPUB's entries unchanged but for the package document and a stylesheet link in each narrated document's head; the
audio under <opf folder>/audio/, one SMIL per narrated document under <opf folder>/overlays/, and the stylesheet
of the highlight (the class named by media:active-class).
"""

from __future__ import annotations

import posixpath
import zipfile
from collections import Counter
from pathlib import Path

from worker.books.readalong_clips import Clip, Overlay, audio_files, clock_value, timed_clips
from worker.books.readalong_documents import ACTIVE_CLASS, STYLESHEET, linked_document, smil
from worker.books.readalong_package import Package, unique
from worker.books.readalong_zip import copy_epub, store_file, written_atomically

__all__ = ["Clip", "Overlay", "package_readalong"]

_SMIL_TYPE = "application/smil+xml"


def package_readalong(marked: Path, overlays: list[Overlay], *, audio: dict[str, Path], out: Path) -> None:
    """`marked` EPUB 3 + one Media Overlay per narrated document -> `out` (readalong.epub).

    `audio` maps each Overlay.audio name to its file (MP3, or AAC in MP4, as the name's extension says); the file
    is streamed into the package, never read whole. ValueError when the overlays do not fit the book or the audio:
    a document narrated twice, a clip outside its audio or out of order, an id the document lacks.
    """
    if not overlays:
        raise ValueError("no overlays: a read-along narrates at least one document")
    documents = [posixpath.normpath(overlay.document) for overlay in overlays]
    if repeated := sorted(document for document, count in Counter(documents).items() if count > 1):
        raise ValueError(f"{', '.join(repeated)}: a document has one overlay, its clips in one audio file")
    files = audio_files(audio, overlays)
    timed = [timed_clips(overlay, files) for overlay in overlays]
    with zipfile.ZipFile(marked) as source:
        package = Package(source)
        names = set(source.namelist())
        taken = {name.casefold() for name in names}

        def entry(folder: str, name: str) -> str:
            return unique(posixpath.join(package.folder, folder, name), taken, fold=True)

        stylesheet = entry("css", "narrate-readalong.css")
        package.add_item(stylesheet, id_wanted="narrate-readalong-css", media_type="text/css")
        places = {name: entry("audio", name) for name in files}
        for number, name in enumerate(files, start=1):
            package.add_item(places[name], id_wanted=f"narrate-audio-{number}", media_type=files[name].media_type)
        replaced: dict[str, bytes] = {}
        added = {stylesheet: STYLESHEET}
        total = 0
        for number, (document, clips) in enumerate(zip(documents, timed, strict=True), start=1):
            item = package.document(document)
            if item.path not in names:
                raise ValueError(f"{item.path}: listed in the package document but not in the EPUB")
            replaced[item.path] = linked_document(
                source.read(item.path), path=item.path, fragments=[c.fragment for c in clips], stylesheet=stylesheet
            )
            name = posixpath.splitext(posixpath.basename(item.path))[0] + ".smil"
            overlay_path = entry("overlays", name)
            added[overlay_path] = smil(path=overlay_path, document=item.path, audio=places, clips=clips)
            overlay_id = package.add_item(overlay_path, id_wanted=f"narrate-overlay-{number}", media_type=_SMIL_TYPE)
            item.element.set("media-overlay", overlay_id)
            length = sum(clip.end_ms - clip.begin_ms for clip in clips)
            package.add_meta("media:duration", clock_value(length), refines=overlay_id)
            total += length
        package.add_meta("media:duration", clock_value(total))
        package.add_meta("media:active-class", ACTIVE_CLASS)
        package.touch()
        replaced[package.path] = package.data()
        with written_atomically(out) as archive:
            copy_epub(source, archive, replaced=replaced, added=added)
            for name, file in files.items():
                store_file(archive, places[name], file.path)
