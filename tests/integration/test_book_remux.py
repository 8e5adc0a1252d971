"""The .m4b joined from its chapters' AAC parts, checked against the chapter files it must agree with.

Real Redis, a real S3 API and the Fish emulator's speech; the chapters are WAV
files, so they hold exactly the mastered samples the book's parts were encoded
from. Where each chapter's first word really is in the book is found by
correlating the decoded book with the chapter file, not taken from the code
that placed it.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path

import av
import av.logging
import numpy as np
import pytest
import redis
from scipy.signal import correlate

from producer.dev.stack import LocalStack
from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from tests.conftest import EmulatorControl
from tests.support.book_faults import render_all
from tests.support.epubs import write_epub
from tests.support.tones import decode_mono
from worker import keys
from worker.audio.mp4 import FRAME_SAMPLES
from worker.books.book import assemble_book
from worker.books.chapter import assemble_chapter
from worker.books.context import BookContext
from worker.books.state import BookState
from worker.fish.client import FishClient
from worker.renders.held import HeldRenders
from worker.settings import Settings, get_settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext

CHAPTERS = [
    ("Opening", ["The first chapter opens the book.", "It has a second paragraph."]),
    ("Middle", ["The middle chapter is short."]),
    ("Closing", ["The last chapter ends it.", "With a final sentence, and a pause."]),
]
TEMPLATE_SECONDS = 0.5  # of each chapter's opening words, looked for in the book


@pytest.fixture(scope="module")
def made(stack: LocalStack, reference_clip, tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN001, ANN201
    """The book made once for the module (both tests only read it), as the function fixtures would: Redis
    flushed, the emulator reset, a bucket of its own."""
    redis_client = redis.Redis.from_url(stack.redis.url)  # type: ignore[union-attr]
    redis_client.flushdb()
    EmulatorControl(stack.emulator.url).reset()  # type: ignore[union-attr]
    with pytest.MonkeyPatch.context() as env:
        for name, value in {**stack.env(), "NARRATE_PROMOTE_AFTER": "off"}.items():
            env.setenv(name, value)
        get_settings.cache_clear()
        try:
            return _make(redis_client, reference_clip, tmp_path_factory.mktemp("remux"))
        finally:
            get_settings.cache_clear()


def _make(redis_client: redis.Redis, reference_clip, folder: Path):  # noqa: ANN001, ANN202
    from producer.submit.clips import ClipInput, prepare_clip_voice

    settings = Settings()
    storage = Storage()
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    storage.create_bucket(bucket)
    ctx = BookContext(
        render=RenderContext(
            settings=settings, storage=storage, fish=FishClient(settings), held=HeldRenders(redis_client)
        ),
        state=BookState(redis_client),
    )
    book = read_book(
        str(write_epub(folder / "three.epub", title="Three", author="A. Writer", chapters=CHAPTERS, cover=False))
    )
    voice = prepare_clip_voice([ClipInput(*reference_clip)])
    plan, _ = BookSubmitter.from_settings(settings).submit(book, voice=voice, out=f"s3://{bucket}/remux", fmt="wav")
    render_all(plan, ctx)
    for chapter in plan.chapters:
        ctx.state.chapter_done(plan.book_id, chapter.index, **assemble_chapter(plan, chapter.index, ctx=ctx))
    # The middle chapter's part is lost before the book task: the others download side by side, it is made again.
    for extension in ("aac", "npz"):
        storage.delete(bucket, keys.book_part(plan.output.prefix, plan.book_id, 1, extension))
    manifest = assemble_book(plan, ctx=ctx)
    assert all(
        storage.get(bucket, keys.book_part(plan.output.prefix, plan.book_id, i, "npz")) is None
        for i in range(len(CHAPTERS))
    )
    return plan, manifest, storage


def test_chapter_marks_fall_on_each_chapters_first_word(made) -> None:
    plan, manifest, storage = made
    m4b = storage.get(plan.output.bucket, keys.book_audio(plan.output.prefix, plan.book_id))
    book, rate = decode_mono(m4b)
    with av.open(io.BytesIO(m4b)) as container:
        marks = [c["start"] * c["time_base"] for c in container.chapters()]
    head = round(plan.pauses.head_seconds * rate)
    template = round(TEMPLATE_SECONDS * rate)
    for index, chapter in enumerate(manifest["chapters"]):
        audio, chapter_rate = decode_mono(storage.get(*chapter["output_url"].removeprefix("s3://").split("/", 1)))
        assert chapter_rate == rate
        words = audio[head : head + template]
        expected = (
            head if index == 0 else round(float(marks[index]) * rate)
        )  # the first chapter's mark is the book's start
        found = _where(book, words, around=expected, rate=rate)
        assert abs(found - expected) <= FRAME_SAMPLES, (
            f"chapter {index + 1}: its words start {found - expected} samples from its mark"
        )
        assert abs(found - expected) <= 48, (
            "within a millisecond: the marks are computed from whole frames, not estimated"
        )
        print(f"chapter {index + 1}: mark {expected} samples, words found at {found}")
    sidecar = json.loads(storage.get(plan.output.bucket, keys.book_sidecar(plan.output.prefix, plan.book_id, "json")))
    assert [c["start"] for c in sidecar["chapters"]] == pytest.approx([float(m) for m in marks], abs=0.002)
    # No click at a join: the pause before each chapter (where two parts meet) stays at room-tone level.
    for index in range(1, len(manifest["chapters"])):
        start = round(float(marks[index]) * rate)
        pause = book[start - round(0.8 * plan.pauses.chapter_seconds * rate) : start - round(0.05 * rate)]
        assert 20 * np.log10(np.abs(pause).max()) < -45, f"a click in the pause before chapter {index + 1}"


def test_the_joined_book_lasts_as_long_as_a_straight_encode_and_decodes_cleanly(made) -> None:
    plan, manifest, storage = made
    m4b = storage.get(plan.output.bucket, keys.book_audio(plan.output.prefix, plan.book_id))
    with av.logging.Capture() as logs, av.open(io.BytesIO(m4b)) as container:
        stream = container.streams.audio[0]
        decoded = sum(frame.samples for frame in container.decode(stream))
        rate, reported = stream.codec_context.sample_rate, float(container.duration / 1e6)
    problems = [line for line in logs if line[0] <= av.logging.ERROR]
    assert problems == [], f"the decoder complained: {problems[:3]}"
    pauses = plan.pauses
    # A straight encode of the same audio: the head, each chapter's words, a chapter pause between them, the tail.
    files = [
        decode_mono(storage.get(*chapter["output_url"].removeprefix("s3://").split("/", 1)))
        for chapter in manifest["chapters"]
    ]
    speech = [samples.size / rate - pauses.head_seconds - pauses.tail_seconds for samples, _ in files]
    straight = pauses.head_seconds + sum(speech) + pauses.chapter_seconds * (len(speech) - 1) + pauses.tail_seconds
    frame = FRAME_SAMPLES / rate
    assert abs(decoded / rate - straight) <= len(speech) * frame, (
        "within one frame per chapter (each part is whole frames)"
    )
    straight_marks = [0.0] + [
        pauses.head_seconds + sum(speech[:k]) + k * pauses.chapter_seconds for k in range(1, len(speech))
    ]
    sidecar = json.loads(storage.get(plan.output.bucket, keys.book_sidecar(plan.output.prefix, plan.book_id, "json")))
    marks = [chapter["start"] for chapter in sidecar["chapters"]]
    for k, (mark, expected) in enumerate(zip(marks, straight_marks)):
        assert abs(mark - expected) <= (k + 1) * frame, (
            f"chapter {k + 1} starts {mark - expected:+.3f} s from a straight encode's mark"
        )
    assert reported == pytest.approx(decoded / rate, abs=0.002)
    assert sidecar["chapters"][-1]["end"] == pytest.approx(decoded / rate, abs=0.002)
    # the report measures the parts' audio: all of the book but the joins' priming frames (near silence, a frame each)
    joins = (len(speech) - 1) * frame
    assert manifest["reports"]["book.m4b"]["duration_seconds"] == pytest.approx(decoded / rate - joins, abs=0.006)
    assert manifest["reports"]["book.m4b"]["pass"] is True
    leftovers = [
        key
        for key, _ in storage.list(
            plan.output.bucket, keys.book_part(plan.output.prefix, plan.book_id, 0, "aac").rsplit("/", 1)[0]
        )
    ]
    assert leftovers == [], "the parts are deleted once the book is made"


def _where(book: np.ndarray, words: np.ndarray, *, around: int, rate: int) -> int:
    """The sample in `book` where `words` start, searched within 0.3 s of `around`."""
    low = max(0, around - int(0.3 * rate))
    window = book[low : around + int(0.3 * rate) + words.size].astype(np.float64)
    scores = correlate(window, words.astype(np.float64), mode="valid", method="fft")
    return low + int(np.argmax(scores))
