"""Read-along books through real workers and the emulator: readalong.epub passes EPUBCheck, and each sentence's
clip covers the sentence as it is heard in the chapter audio inside the package.

Where a sentence really is in that audio is found without the project's timings: the emulator writes every word
it speaks into its take's samples (frames it alone writes and reads), so the chosen take of each chunk tells where
its words start; the take is found in the package's chapter file by cross-correlation (the file is mastered and
MP3: its samples no longer carry the frames, but they still carry the take's waveform); a sentence ends where the
take's audio after its last word falls silent.
"""

from __future__ import annotations

import difflib
import io
import json
import posixpath
import re
import wave
import zipfile
from dataclasses import replace
from importlib import metadata
from pathlib import Path

import av
import numpy as np
import pytest
from lxml import etree
from typer.testing import CliRunner

from producer.cli.main import app
from producer.dev.emulator.frames import read_words
from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from producer.submit.read_along import ReadAlongSource
from tests.e2e.conftest import load, wait_book
from tests.support.chromium import painted, screenshot
from tests.support.epubcheck import errors
from worker import keys
from worker.books.plan import BookPlan
from worker.books.readalong_documents import ACTIVE_CLASS
from worker.settings import Settings, get_settings

pytestmark = pytest.mark.e2e

TOLERANCE = 0.25  # seconds, at both ends of every clip
SMIL = "{http://www.w3.org/ns/SMIL}"
SAMPLE = Path(metadata.distribution("epubcheck").locate_file("epubcheck/samples/childrens-literature.epub"))
# Of the sample's long chapter, a tale's first paragraphs (after a bibliography): the rest stays in the book, unread.
FIRST, LAST = 63, 68
runner = CliRunner()


@pytest.fixture
def speaking(workers, book_env, emulator, monkeypatch):  # noqa: ANN001, ANN201
    """Real workers, the emulator speaking words (not tones), proof-listening off unless read-along asks."""
    workers()
    emulator.control(tone_mode=False)
    monkeypatch.setenv("NARRATE_QC", "off")
    get_settings.cache_clear()


@pytest.fixture
def read_along_book(speaking, bucket, voice, tmp_path):  # noqa: ANN001, ANN201
    book = read_book(str(SAMPLE))
    chapter = book.chapters[0]
    paragraphs = chapter.text.split("\n\n")[FIRST:LAST]
    shortened = replace(chapter, text="\n\n".join(paragraphs), first_paragraph=FIRST)
    plan, _ = BookSubmitter.from_settings(Settings()).submit(
        replace(book, chapters=[shortened]), voice=voice, out=f"s3://{bucket}/ra", read_along=ReadAlongSource.of(SAMPLE)
    )
    wait_book(plan.book_id, timeout=300)
    return plan, fetched(bucket, plan, tmp_path)


def fetched(bucket: str, plan, folder: Path) -> Path:  # noqa: ANN001
    epub = folder / f"{plan.book_id}.epub"
    epub.write_bytes(load(bucket, keys.book_read_along(plan.output.prefix, plan.book_id)))
    return epub


def test_a_read_along_epub_passes_epubcheck_and_its_clips_cover_their_sentences(read_along_book, bucket) -> None:
    plan, epub = read_along_book
    assert plan.qc.mode == "report", "read-along hears every take, to time its sentences"

    assert errors(epub) == []
    assert_clips_cover_sentences(plan, epub, bucket, at_least=15)
    sentence = f"narrate-{FIRST}-1"  # the tale's second sentence, inside the publisher's own markup and styles
    document = plan.chapters[0].document
    tall = 16_000  # the tale starts some 3,000 pixels down the chapter, after its bibliography
    assert painted(shown(epub, document, active=None, height=tall), HIGHLIGHT) == 0
    assert painted(shown(epub, document, active=sentence, height=tall), HIGHLIGHT) > 2_000
    manifest = load(bucket, keys.book_manifest(plan.output.prefix, plan.book_id)).decode()
    assert "readalong.epub" in manifest
    # chapters.json carries the same sentences, timed in the chapter file and in the .m4b (after the book's head)
    sidecar = json.loads(load(bucket, keys.book_sidecar(plan.output.prefix, plan.book_id, "json")))
    timed = sidecar["chapters"][0]["sentences"]
    ((_, pars),) = overlays_of(epub).values()
    assert [(f"narrate-{s['paragraph']}-{s['sentence']}", s["file_start"]) for s in timed] == [p[:2] for p in pars]
    assert all(s["placed"] for s in timed), "every sentence was placed by the words heard"
    assert all(s["start"] == s["file_start"] for s in timed), "the first chapter starts the book, head and all"


MARKDOWN = """# The Lantern

The lantern swung in the rigging. Nobody on the pier had seen the captain since the morning.

"Where is he?" asked the cook. She wiped her hands on her apron and looked out at the water.

# The Crossing

They crossed the bay in silence. The water was black and still, and the stars were very bright.
"""


def test_a_markdown_book_in_a_batch_file_gets_a_generated_read_along_epub(
    speaking, bucket, voice, reference_clip, tmp_path
) -> None:
    book = tmp_path / "lantern.md"
    book.write_text(MARKDOWN, encoding="utf-8")
    clip, transcript = reference_clip
    batch = tmp_path / "books.yaml"
    batch.write_text(
        f"- file: {book}\n  out: s3://{bucket}/md\n  voice: {clip}\n  transcript: {json.dumps(transcript)}\n"
        "  read_along: true\n",
        encoding="utf-8",
    )

    result = runner.invoke(app, ["submit", str(batch), "--json"])

    assert result.exit_code == 0, result.output
    book_id = re.search(r"[0-9a-f]{32}", result.output)[0]
    wait_book(book_id, timeout=300)
    plan = BookPlan.model_validate_json(load(bucket, keys.book_plan("md", book_id)))
    epub = fetched(bucket, plan, tmp_path)
    assert errors(epub) == []
    assert [c.document for c in plan.chapters] == ["EPUB/chapter-001.xhtml", "EPUB/chapter-002.xhtml"]
    assert_clips_cover_sentences(plan, epub, bucket, at_least=5)
    status = runner.invoke(app, ["status", book_id])
    assert f"read-along EPUB: s3://{bucket}/md/{book_id}/readalong.epub" in status.output, status.output

    # A real browser engine draws the highlight a reading system applies (media:active-class) on a sentence only.
    first = sentence_texts(epub, plan.chapters[0].document)
    plain, lit = (
        shown(epub, plan.chapters[0].document, active=None),
        shown(epub, plan.chapters[0].document, active=next(iter(first))),
    )
    assert painted(plain, HIGHLIGHT) == 0
    assert painted(lit, HIGHLIGHT) > 2_000, "the active sentence is painted in the highlight"


def test_read_along_is_refused_where_it_cannot_be_made(stack_env, bucket, reference_clip, tmp_path) -> None:
    book = tmp_path / "lantern.md"
    book.write_text(MARKDOWN, encoding="utf-8")
    clip, transcript = reference_clip
    voice = ["--voice", str(clip), "--transcript", transcript]

    wav = runner.invoke(
        app, ["book", str(book), "--out", f"s3://{bucket}/x", "--format", "wav", "--read-along", *voice]
    )
    text = runner.invoke(app, ["submit", str(book.with_suffix(".txt")), "--out", f"s3://{bucket}/x", "--read-along"])

    assert wav.exit_code == 2 and "readers play MP3" in wav.output, wav.output
    assert text.exit_code == 2 and "--read-along makes a book's read-along EPUB" in text.output, text.output


HIGHLIGHT = (0xFF, 0xF2, 0xA8)  # the active class's background in the package's stylesheet


def shown(epub: Path, document: str, *, active: str | None, height: int = 700) -> Path:
    """The document (unpacked with the package, so its stylesheet links hold) as Chromium draws it, with the
    active class on the element `active` as a reading system sets it while that sentence plays."""
    folder = epub.parent / f"unpacked-{active or 'plain'}"
    with zipfile.ZipFile(epub) as archive:
        archive.extractall(folder)
    page = folder / document
    root = etree.parse(str(page))
    if active is not None:
        [element] = root.xpath("//*[@id=$id]", id=active)
        element.set("class", f"{element.get('class', '')} {ACTIVE_CLASS}".strip())
    page.write_bytes(etree.tostring(root, xml_declaration=True, encoding="utf-8"))
    png = folder.with_suffix(".png")
    screenshot(page, png, height=height)
    return png


def assert_clips_cover_sentences(plan, epub: Path, bucket: str, *, at_least: int) -> None:  # noqa: ANN001
    """Every marked sentence has its clip, in order, within TOLERANCE of where it is heard in the package's audio."""
    overlays = overlays_of(epub)
    narrated = {c.document: c for c in plan.chapters if c.document}
    assert sorted(overlays) == sorted(narrated)
    count = 0
    for document, (audio, pars) in overlays.items():
        sentences = sentence_texts(epub, document)
        assert [fragment for fragment, *_ in pars] == list(sentences), "every marked sentence has its clip, in order"
        truth = located(narrated[document], bucket, audio=audio_samples(epub, audio), sentences=sentences)
        assert len(truth) >= 0.9 * len(pars), "nearly every sentence was found independently"
        for fragment, begin, end in pars:
            if fragment not in truth:
                continue
            start, stop = truth[fragment]
            assert abs(begin - start) <= TOLERANCE, (fragment, sentences[fragment], begin, start)
            assert abs(end - stop) <= TOLERANCE, (fragment, sentences[fragment], end, stop)
        count += len(pars)
    assert count >= at_least


# --- the package, read with zipfile and lxml ---------------------------------------------------------------


def overlays_of(epub: Path) -> dict[str, tuple[str, list[tuple[str, float, float]]]]:
    """document path -> (audio path, [(fragment, clipBegin, clipEnd)]) from every SMIL in the package."""
    out = {}
    with zipfile.ZipFile(epub) as archive:
        for name in archive.namelist():
            if not name.endswith(".smil"):
                continue
            root = etree.fromstring(archive.read(name))
            pars, document, audio = [], "", ""
            for par in root.iter(f"{SMIL}par"):
                text, clip = par.find(f"{SMIL}text"), par.find(f"{SMIL}audio")
                href, fragment = text.get("src").split("#")
                document = posixpath.normpath(posixpath.join(posixpath.dirname(name), href))
                audio = posixpath.normpath(posixpath.join(posixpath.dirname(name), clip.get("src")))
                pars.append((fragment, seconds(clip.get("clipBegin")), seconds(clip.get("clipEnd"))))
            out[document] = (audio, pars)
    return {document: (audio, pars) for document, (audio, pars) in out.items()}


def seconds(clock: str) -> float:
    if clock.endswith("ms"):
        return float(clock[:-2]) / 1000
    if clock.endswith("s"):
        return float(clock[:-1])
    parts = [float(p) for p in clock.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))


def sentence_texts(epub: Path, document: str) -> dict[str, str]:
    with zipfile.ZipFile(epub) as archive:
        root = etree.fromstring(archive.read(document))
    return {
        element.get("id"): " ".join("".join(element.itertext()).split())
        for element in root.iter()
        if isinstance(element.tag, str) and (element.get("id") or "").startswith("narrate-")
    }


def audio_samples(epub: Path, audio: str) -> tuple[np.ndarray, int]:
    with zipfile.ZipFile(epub) as archive, av.open(io.BytesIO(archive.read(audio))) as container:
        stream = container.streams.audio[0]
        blocks = [frame.to_ndarray().astype(np.float32).reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(blocks), stream.rate


# --- where each sentence is, from the takes' frames ------------------------------------------------------------


def located(planned, bucket, *, audio, sentences):  # noqa: ANN001, ANN201
    """fragment -> (start, end) in the chapter file, for each sentence whose first and last words were found."""
    chapter, rate = audio
    words: list[tuple[str, float, float]] = []  # every spoken word of the chapter: text, start, end (file seconds)
    for chunk in planned.chunks:
        take, take_rate = wav_samples(load(bucket, chunk.key))
        assert take_rate == rate
        offset = where(take, chapter) / rate
        found = read_words(take)
        starts = [w.sample for w in found] + [take.size]
        for word, nxt in zip(found, starts[1:]):
            words.append(
                (token(word.text), offset + word.sample / rate, offset + voiced_end(take, word.sample, nxt) / rate)
            )
    spoken = [w for w, _, _ in words]
    written = [(fragment, token(t)) for fragment, text in sentences.items() for t in text.split() if token(t)]
    matcher = difflib.SequenceMatcher(a=[t for _, t in written], b=spoken, autojunk=False)
    heard_at: dict[int, int] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            heard_at[block.a + k] = block.b + k
    out = {}
    for fragment in sentences:
        mine = [i for i, (f, _) in enumerate(written) if f == fragment]
        if mine and mine[0] in heard_at and mine[-1] in heard_at:
            out[fragment] = (words[heard_at[mine[0]]][1], words[heard_at[mine[-1]]][2])
    return out


def token(text: str) -> str:
    return re.sub(r"[^\w]", "", text.casefold())


def wav_samples(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as reader:
        return np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2"), reader.getframerate()


def where(take: np.ndarray, chapter: np.ndarray) -> int:
    """The sample of `chapter` at which `take` starts: the peak of their cross-correlation (by FFT)."""
    a, b = chapter.astype(np.float64), take.astype(np.float64) / 32768.0
    size = 1 << int(np.ceil(np.log2(a.size + b.size)))
    correlation = np.fft.irfft(np.fft.rfft(a, size) * np.conj(np.fft.rfft(b, size)), size)[: a.size]
    return int(np.argmax(correlation))


def voiced_end(take: np.ndarray, start: int, stop: int) -> int:
    """The last sample in [start, stop) louder than 2 % of the take's peak: where the word's sound ends."""
    piece = np.abs(take[start:stop].astype(np.int32))
    loud = np.flatnonzero(piece > 0.02 * max(1, int(np.abs(take).max())))
    return start + (int(loud[-1]) if loud.size else 0)
