"""render_job end to end in-process: real SDK → emulator, real S3 API.

What it pays Fish for when S3 fails or another delivery of the job runs: test_render_paid_once.py.
"""

import json

import pytest

from tests.conftest import EmulatorControl
from tests.support.jobs import clip_voice, make_job
from worker import keys
from worker.audio import codec
from worker.audio.flac import lossless_flac
from worker.contract import ModelVoice
from worker.errors import PermanentError
from worker.fish.client import FishClient
from worker.jobs.render import render_job
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext

TEXT = "The North Wind and the Sun were disputing which was the stronger, when a traveller came along."


def context() -> RenderContext:
    """A render context from the settings the environment holds now."""
    settings = Settings()
    return RenderContext(settings=settings, storage=Storage(), fish=FishClient(settings))


@pytest.fixture
def ctx(stack_env: dict[str, str], emulator: EmulatorControl) -> RenderContext:
    return context()


def test_one_shot_render_writes_audio_then_manifest(ctx: RenderContext, bucket: str, emulator, reference_clip) -> None:
    voice = clip_voice(ctx.storage, bucket=bucket, clip=reference_clip)
    job = make_job(text=TEXT, voice=voice, bucket=bucket, prefix="books/one", fmt="mp3")
    manifest = render_job(job, ctx=ctx, attempt=1)

    data = ctx.storage.get(bucket, f"books/one/{job.job_id}.mp3")
    assert data is not None and len(data) == manifest.output.size_bytes
    duration = codec.probe(data).duration_seconds
    # espeak speaks about 2.5-4 words a second: 17 words
    assert 3.0 < duration < 12.0
    assert manifest.output.duration_seconds == pytest.approx(duration, abs=0.01)
    stored = json.loads(ctx.storage.get(bucket, keys.output_manifest("books/one", job.job_id)))
    assert stored["job_id"] == job.job_id
    assert stored["text_bytes_billed"] == len(TEXT.encode())
    assert stored["voice_mode"] == "one_shot"
    assert stored["voice_reference_hash"] == voice.reference_hash
    # The WAV clip travels as FLAC: the same samples in about half the bytes.
    flac = lossless_flac(reference_clip[0].read_bytes())
    assert flac is not None and stored["reference_bytes_sent"] == len(flac) < 0.6 * reference_clip[0].stat().st_size
    assert stored["fish_model"] == "s2-pro"
    assert stored["output"]["content_type"] == "audio/mpeg"
    assert stored["fish_latency_seconds"] > 0
    [seen] = emulator.requests()
    assert seen["reference_texts"] == [reference_clip[1]] and seen["text"] == TEXT
    assert seen["reference_bytes"] == len(flac)


def test_reference_encoding_original_sends_the_clip_as_uploaded(
    stack_env, emulator: EmulatorControl, bucket: str, reference_clip, monkeypatch
) -> None:
    monkeypatch.setenv("NARRATE_REFERENCE_ENCODING", "original")
    ctx = context()
    job = make_job(text=TEXT, voice=clip_voice(ctx.storage, bucket=bucket, clip=reference_clip), bucket=bucket)
    assert render_job(job, ctx=ctx, attempt=1).reference_bytes_sent == reference_clip[0].stat().st_size
    assert [r["reference_bytes"] for r in emulator.requests()] == [reference_clip[0].stat().st_size]


def test_a_job_delivered_twice_calls_fish_once(ctx: RenderContext, bucket: str, emulator, reference_clip) -> None:
    job = make_job(text=TEXT, voice=clip_voice(ctx.storage, bucket=bucket, clip=reference_clip), bucket=bucket)
    first = render_job(job, ctx=ctx, attempt=1)
    second = render_job(job, ctx=ctx, attempt=2)
    assert second == first
    assert emulator.stats()["tts_requests"] == 1


def test_long_text_is_chunked_and_chunks_are_reused_after_a_crash(
    stack_env, emulator: EmulatorControl, bucket: str, reference_clip, monkeypatch
) -> None:
    monkeypatch.setenv("NARRATE_CHUNK_BYTES", "120")
    ctx = context()
    sentences = [f"{TEXT[:-1]}, for the {n} time." for n in ("first", "second", "third", "fourth")]
    text = " ".join(sentences) + "\n\n" + "A second paragraph, short."
    job = make_job(
        text=text, voice=clip_voice(ctx.storage, bucket=bucket, clip=reference_clip), bucket=bucket, fmt="opus"
    )
    manifest = render_job(job, ctx=ctx, attempt=1)
    assert len(manifest.requests) == 5
    assert all(r.text_bytes <= 120 and not r.cached for r in manifest.requests)
    assert manifest.text_bytes_billed == sum(r.text_bytes for r in manifest.requests)
    assert manifest.output.duration_seconds > 15

    # A crash after the chunks were stored but before the manifest: nothing is paid twice.
    ctx.storage.delete(bucket, keys.output_manifest(job.output.prefix, job.job_id))
    before = emulator.stats()["tts_requests"]
    again = render_job(job, ctx=ctx, attempt=2)
    assert emulator.stats()["tts_requests"] == before
    assert all(r.cached for r in again.requests) and again.text_bytes_billed == 0


def test_existing_voice_id_sends_only_the_id(
    ctx: RenderContext, bucket: str, emulator: EmulatorControl, reference_clip
) -> None:
    model_id = emulator.create_model(reference_clip)
    job = make_job(text=TEXT, voice=ModelVoice(reference_id=model_id), bucket=bucket, fmt="wav")
    manifest = render_job(job, ctx=ctx, attempt=1)
    assert manifest.voice_mode == "reference_id" and manifest.reference_bytes_sent == 0
    [seen] = [r for r in emulator.requests() if r["text"] == TEXT]
    assert seen["mode"] == "reference_id" and seen["reference_id"] == model_id and seen["reference_bytes"] == 0


def test_missing_reference_clip_fails_permanently_and_writes_nothing(
    ctx: RenderContext, bucket: str, reference_clip
) -> None:
    voice = clip_voice(ctx.storage, bucket=bucket, clip=reference_clip)
    ctx.storage.delete(bucket, voice.clips[0].key)
    job = make_job(text=TEXT, voice=voice, bucket=bucket)
    with pytest.raises(PermanentError, match="is missing"):
        render_job(job, ctx=ctx, attempt=1)
    assert not ctx.storage.exists(bucket, keys.output_audio("out", job.job_id, "mp3"))
    assert not ctx.storage.exists(bucket, keys.output_manifest("out", job.job_id))


def test_altered_reference_clip_is_refused(ctx: RenderContext, bucket: str, reference_clip) -> None:
    voice = clip_voice(ctx.storage, bucket=bucket, clip=reference_clip)
    ctx.storage.put(bucket, voice.clips[0].key, b"tampered", content_type="audio/wav")
    with pytest.raises(PermanentError, match="does not match"):
        render_job(make_job(text=TEXT, voice=voice, bucket=bucket), ctx=ctx, attempt=1)


def test_a_manifest_whose_audio_is_gone_is_rendered_again(
    ctx: RenderContext, bucket: str, emulator, reference_clip
) -> None:
    job = make_job(text=TEXT, voice=clip_voice(ctx.storage, bucket=bucket, clip=reference_clip), bucket=bucket)
    first = render_job(job, ctx=ctx, attempt=1)
    ctx.storage.delete(bucket, first.output.key)  # e.g. a manifest write that timed out but landed, then cleanup
    second = render_job(job, ctx=ctx, attempt=2)
    assert ctx.storage.exists(bucket, second.output.key)
    assert emulator.stats()["tts_requests"] == 2


def test_audio_fish_cannot_decode_is_retried_not_blamed_on_the_user() -> None:
    from worker.errors import FishUnavailable
    from worker.jobs.chunks import check_fish_audio

    with pytest.raises(FishUnavailable, match="does not decode"):
        check_fish_audio(b"\x00" * 400)


class _ChunkPuts(Storage):
    """Real S3; the chunk audio stored, in the order it was stored."""

    def __init__(self) -> None:
        super().__init__()
        self.chunks: list[bytes] = []

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        if key.startswith("chunks/"):
            self.chunks.append(data)
        super().put(bucket, key, data, content_type=content_type)


def test_a_long_wav_job_is_joined_on_disk_into_the_same_file_as_in_memory(
    stack_env, emulator, bucket, reference_clip, monkeypatch, tmp_path
) -> None:
    import tempfile

    from worker.jobs.render import CHUNK_PAUSE_SECONDS

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setenv("NARRATE_CHUNK_BYTES", "100")
    monkeypatch.setenv("NARRATE_FISH_CONCURRENCY", "1")  # chunks stored in their order
    settings = Settings()
    storage = _ChunkPuts()
    ctx = RenderContext(settings=settings, storage=storage, fish=FishClient(settings))
    text = " ".join(f"Sentence {n} of a job long enough to need several requests." for n in range(4))
    job = make_job(text=text, voice=clip_voice(storage, bucket=bucket, clip=reference_clip), bucket=bucket, fmt="wav")
    manifest = render_job(job, ctx=ctx, attempt=1)
    stored = storage.get(bucket, manifest.output.key)
    assert len(storage.chunks) == len(manifest.requests) == 4
    assert stored == codec.concatenate(storage.chunks, fmt="wav", pause_seconds=CHUNK_PAUSE_SECONDS), "byte for byte"
    assert manifest.output.size_bytes == len(stored)
    assert manifest.output.duration_seconds == pytest.approx(codec.probe(stored).duration_seconds, abs=0.001)
    assert list(tmp_path.iterdir()) == [], "the file it was joined in is gone"
