"""A chunk's takes through the real SDK and the emulator: heard, retaken while they fail, the best chosen, and
nothing Fish was paid for (a take, a transcript) paid again across failures and retries."""

from __future__ import annotations

import io
import wave

import pytest

from tests.conftest import EmulatorControl
from tests.support.book_faults import FlakyStorage
from worker import keys
from worker.audio import codec
from worker.contract import QualityCheck, RequestRecord
from worker.errors import StorageUnavailable
from worker.fish.client import FishClient
from worker.renders.held import HeldRenders
from worker.settings import Settings
from worker.takes import record as records
from worker.takes.listen import Listening
from worker.takes.loop import Chunk, take_chunk
from worker.takes.summary import chunk_summary
from worker.voices.speaker import RenderContext

TEXT = (
    'The lamps were lit along the quay. "Stay close," said Marguerite Duval. The boat left the harbour at nine, '
    "and nobody on the pier had seen the captain since the morning."
)


@pytest.fixture
def ctx(stack_env, redis_client, emulator: EmulatorControl) -> RenderContext:
    settings = Settings()
    return RenderContext(
        settings=settings, storage=FlakyStorage(), fish=FishClient(settings), held=HeldRenders(redis_client)
    )


class Renders:
    """The render a chunk task makes (model voice, WAV), with the emulator's faults set per take: `faults[n]` for
    the n-th take rendered (missing: clean)."""

    def __init__(self, ctx: RenderContext, emulator: EmulatorControl, text: str = TEXT, **faults: list[float]) -> None:
        self.ctx, self.emulator, self.text, self.faults, self.count = ctx, emulator, text, faults, 0

    def __call__(self) -> tuple[bytes, RequestRecord]:
        self.emulator.control(
            **{
                f"fault_{kind}": rates[self.count] if self.count < len(rates) else 0
                for kind, rates in ({k: [] for k in ("drop", "repeat", "garble", "cut")} | self.faults).items()
            }
        )
        self.count += 1
        speech = self.ctx.fish.synthesize(text=self.text, fmt="wav")
        return speech.audio, RequestRecord(
            chunk=0, text_bytes=len(self.text.encode()), mode="reference_id", reference_bytes_sent=0, latency_seconds=0
        )


def kinds(emulator: EmulatorControl) -> list[str]:
    return [entry["kind"] for entry in emulator.requests() if entry["kind"] in ("tts", "asr")]


def chunk(bucket: str, text: str = TEXT, name: str = "a") -> Chunk:
    return Chunk(bucket=bucket, key=keys.chunk_audio(name * 64), text=text)


def listening(mode: str, retakes: int = 2) -> Listening:
    return Listening(QualityCheck(mode=mode, retakes=retakes), language="en")


def test_report_hears_the_one_take_and_chooses_it(ctx, emulator, bucket) -> None:
    where = chunk(bucket)
    taken = take_chunk(where, render=Renders(ctx, emulator), listening=listening("report"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr"]
    assert taken.record.chosen == 1 and taken.chosen.judged().passed and taken.heard_now == 1
    assert (
        ctx.storage.get(bucket, where.key)
        == ctx.storage.get(bucket, keys.chunk_take_audio(where.key, 1))
        == taken.audio
    )
    assert records.load(ctx.storage, bucket, where.key) == taken.record
    assert chunk_summary(taken.record) == {"takes": 1, "chosen": 1, "verdict": "pass", "score": 1.0}


def test_report_records_a_faulted_take_and_does_not_take_it_again(ctx, emulator, bucket) -> None:
    taken = take_chunk(chunk(bucket), render=Renders(ctx, emulator, drop=[1.0]), listening=listening("report"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr"]
    summary = chunk_summary(taken.record)
    assert summary["verdict"] == "fail" and summary["findings"][0]["kind"] == "dropped"


def test_retake_takes_a_faulted_take_again_and_keeps_the_clean_one(ctx, emulator, bucket) -> None:
    where = chunk(bucket)
    taken = take_chunk(where, render=Renders(ctx, emulator, repeat=[1.0]), listening=listening("retake"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr", "tts", "asr"]
    assert [t.judged().passed for t in taken.record.takes] == [False, True]
    assert taken.record.chosen == 2 and taken.retakes_now == 1 and len(taken.paid) == 2
    assert ctx.storage.get(bucket, where.key) == ctx.storage.get(bucket, keys.chunk_take_audio(where.key, 2))


def test_retakes_stop_at_the_bound_and_the_best_failing_take_is_kept(ctx, emulator, bucket) -> None:
    taken = take_chunk(
        chunk(bucket), render=Renders(ctx, emulator, drop=[1.0, 1.0, 1.0]), listening=listening("retake", 2), ctx=ctx
    )
    assert kinds(emulator) == ["tts", "asr"] * 3
    best = max(t.judged().score for t in taken.record.takes)
    assert taken.chosen.judged().score == best and chunk_summary(taken.record)["verdict"] == "fail"


def test_a_settled_chunk_is_neither_paid_for_nor_heard_again(ctx, emulator, bucket) -> None:
    where = chunk(bucket)
    first = take_chunk(where, render=Renders(ctx, emulator, drop=[1.0]), listening=listening("retake"), ctx=ctx)
    before = len(kinds(emulator))
    again = take_chunk(where, render=Renders(ctx, emulator), listening=listening("retake", 5), ctx=ctx)
    assert len(kinds(emulator)) == before and again.reused and again.audio == first.audio


def test_a_transcript_whose_record_s3_refused_is_not_paid_again(ctx, emulator, bucket) -> None:
    where = chunk(bucket)
    ctx.storage.refuse_put.add(keys.chunk_takes(where.key))
    with pytest.raises(StorageUnavailable):
        take_chunk(where, render=Renders(ctx, emulator), listening=listening("report"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr"]
    taken = take_chunk(where, render=Renders(ctx, emulator), listening=listening("report"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr"], "the retry found the take in S3 and the transcript held in Redis"
    assert taken.record.chosen == 1 and taken.chosen.heard is not None
    assert ctx.held.get_heard(keys.s3_url(bucket, taken.chosen.key)) is None, "dropped once recorded"


def test_a_take_whose_audio_s3_refused_is_held_and_not_paid_again(ctx, emulator, bucket) -> None:
    where = chunk(bucket)
    ctx.storage.refuse_put.add(keys.chunk_take_audio(where.key, 1))
    with pytest.raises(StorageUnavailable):
        take_chunk(where, render=Renders(ctx, emulator), listening=listening("report"), ctx=ctx)
    taken = take_chunk(where, render=Renders(ctx, emulator), listening=listening("report"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr"] and len(taken.paid) == 1, "the held take counted once, paid once"


def test_a_take_under_a_second_is_heard_with_silence_after_it(ctx, emulator, bucket) -> None:
    where = chunk(bucket, text="Yes.", name="b")
    taken = take_chunk(where, render=Renders(ctx, emulator, text="Yes."), listening=listening("retake"), ctx=ctx)
    asr = [entry for entry in emulator.requests() if entry["kind"] == "asr"]
    assert kinds(emulator) == ["tts", "asr"] and asr[0]["audio_seconds"] >= 1.0, "padded to what Fish hears"
    assert asr[0]["heard"] == "Yes." and chunk_summary(taken.record)["verdict"] == "pass"
    assert ctx.storage.get(bucket, where.key) == taken.audio and codec.probe(taken.audio).duration_seconds < 1


def test_a_chunk_stored_before_takes_were_kept_is_heard_as_its_first_take(ctx, emulator, bucket) -> None:
    where = chunk(bucket, name="c")
    audio, _ = Renders(ctx, emulator)()
    ctx.storage.put(bucket, where.key, audio, content_type="audio/wav")
    taken = take_chunk(where, render=Renders(ctx, emulator), listening=listening("retake"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr"], "heard, not rendered again"
    assert taken.record.chosen == 1 and taken.chosen.text_bytes == 0 and not taken.paid


def test_a_take_far_too_short_for_its_text_is_heard_failing_and_taken_again(ctx, emulator, bucket) -> None:
    clean = Renders(ctx, emulator)
    takes: list[str] = []

    def render() -> tuple[bytes, RequestRecord]:
        if takes:
            return clean()
        takes.append("short")
        audio, record = clean()
        return half_a_second(), record

    taken = take_chunk(chunk(bucket, name="d"), render=render, listening=listening("retake"), ctx=ctx)
    first, second = taken.record.takes
    assert kinds(emulator) == ["tts", "asr", "tts", "asr"]
    assert not first.judged().passed and first.heard["text"] == ""
    assert second.judged().passed and taken.record.chosen == 2


def half_a_second() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(44100)
        wav.writeframes(b"\0\0" * 22050)
    return out.getvalue()


def test_a_chunk_a_report_left_failing_is_taken_again_for_a_book_that_retakes(ctx, emulator, bucket) -> None:
    where = chunk(bucket, name="e")
    take_chunk(where, render=Renders(ctx, emulator, drop=[1.0]), listening=listening("report"), ctx=ctx)
    retaken = take_chunk(where, render=Renders(ctx, emulator), listening=listening("retake"), ctx=ctx)
    assert kinds(emulator) == ["tts", "asr", "tts", "asr"], "the first take is not heard again"
    assert retaken.record.chosen == 2 and retaken.chosen.judged().passed
    again = take_chunk(where, render=Renders(ctx, emulator), listening=listening("retake"), ctx=ctx)
    assert again.reused and len(kinds(emulator)) == 4
