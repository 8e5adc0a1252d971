"""render_job end to end in-process: real SDK → emulator, real S3 API."""

import json
from collections.abc import Callable

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


class _FlakyStorage(Storage):
    """Real S3, except that the first PUT of an output fails as if the endpoint were down."""

    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 1

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        if self.failures_left and key.endswith(".mp3"):
            self.failures_left -= 1
            from worker.errors import StorageUnavailable

            raise StorageUnavailable("S3 endpoint unreachable (test); will retry")
        super().put(bucket, key, data, content_type=content_type)


def test_a_render_s3_could_not_take_is_held_and_not_bought_again(
    stack_env, emulator, bucket, reference_clip, redis_client
) -> None:
    from worker.errors import StorageUnavailable
    from worker.renders.held import HeldRenders

    settings = Settings()
    ctx = RenderContext(
        settings=settings, storage=_FlakyStorage(), fish=FishClient(settings), held=HeldRenders(redis_client)
    )
    job = make_job(text=TEXT, voice=clip_voice(ctx.storage, bucket=bucket, clip=reference_clip), bucket=bucket)
    with pytest.raises(StorageUnavailable):
        render_job(job, ctx=ctx, attempt=1)
    assert redis_client.keys("narrate:held:*"), "the paid-for audio waits in Redis"
    manifest = render_job(job, ctx=ctx, attempt=2)
    assert emulator.stats()["tts_requests"] == 1
    assert manifest.text_bytes_billed == len(TEXT.encode()) and manifest.attempts == 2
    assert redis_client.keys("narrate:held:*") == [], "dropped once the job committed"


class _ChunkStoreDown(Storage):
    """Real S3, except that the PUT of the third chunk fails once, after Fish was paid for it."""

    def __init__(self) -> None:
        super().__init__()
        self.chunk_puts = 0

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        if key.startswith("chunks/"):
            self.chunk_puts += 1
            if self.chunk_puts == 3:
                from worker.errors import StorageUnavailable

                raise StorageUnavailable("S3 is failing (SlowDown); will retry")
        super().put(bucket, key, data, content_type=content_type)


def test_every_paid_chunk_is_held_until_stored(
    stack_env, emulator, bucket, reference_clip, redis_client, monkeypatch
) -> None:
    from worker.errors import StorageUnavailable
    from worker.renders.held import HeldRenders

    monkeypatch.setenv("NARRATE_CHUNK_BYTES", "100")
    settings = Settings()
    ctx = RenderContext(
        settings=settings, storage=_ChunkStoreDown(), fish=FishClient(settings), held=HeldRenders(redis_client)
    )
    text = " ".join(f"Sentence {n} of a job long enough to need several requests." for n in range(5))
    job = make_job(text=text, voice=clip_voice(ctx.storage, bucket=bucket, clip=reference_clip), bucket=bucket)
    with pytest.raises(StorageUnavailable):
        render_job(job, ctx=ctx, attempt=1)
    assert 3 <= emulator.stats()["tts_requests"] <= 5 and len(redis_client.keys("narrate:held:*")) == 1
    manifest = render_job(job, ctx=ctx, attempt=2)
    assert emulator.stats()["tts_requests"] == 5, "each chunk bought once: the one S3 refused came from Redis"
    [held] = [
        r for r in manifest.requests if not r.cached
    ]  # the third PUT, whichever chunk it was: rendered in parallel
    assert manifest.text_bytes_billed == held.text_bytes > 0, "the held chunk is billed in this manifest, once"
    assert redis_client.keys("narrate:held:*") == [], "dropped once stored"


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
    from worker.jobs.render import check_fish_audio

    with pytest.raises(FishUnavailable, match="does not decode"):
        check_fish_audio(b"\x00" * 400)


class _AnotherCopyStoresFirst(Storage):
    """Real S3. The first time this copy finds a chunk missing, another delivery of the job renders it completely
    (taking the chunk leases, paying, storing, letting go) before this copy goes on: the gap between looking and
    leasing."""

    def __init__(self, other: Callable[[], object]) -> None:
        super().__init__()
        self._other: Callable[[], object] | None = other

    def get(self, bucket: str, key: str) -> bytes | None:
        found = super().get(bucket, key)
        if found is None and key.startswith("chunks/") and self._other is not None:
            other, self._other = self._other, None
            other()
        return found


def test_a_chunk_stored_by_another_copy_after_the_first_look_is_not_paid_again(
    stack_env, emulator, bucket, reference_clip, redis_client, monkeypatch
) -> None:
    from worker.renders.lease import RenderLeases

    monkeypatch.setenv("NARRATE_CHUNK_BYTES", "100")
    monkeypatch.setenv(
        "NARRATE_FISH_CONCURRENCY", "1"
    )  # one chunk at a time: the other copy never meets a lease of this one
    settings = Settings()
    storage = Storage()
    text = " ".join(f"Sentence {n} of a job long enough to need several requests." for n in range(3))
    job = make_job(text=text, voice=clip_voice(storage, bucket=bucket, clip=reference_clip), bucket=bucket)
    other = RenderContext(
        settings=settings, storage=storage, fish=FishClient(settings), leases=RenderLeases(redis_client)
    )
    this = RenderContext(
        settings=settings,
        storage=_AnotherCopyStoresFirst(lambda: render_job(job, ctx=other, attempt=1)),
        fish=FishClient(settings),
        leases=RenderLeases(redis_client),
    )

    manifest = render_job(job, ctx=this, attempt=1)

    assert emulator.stats()["tts_requests"] == len(manifest.requests) == 3, "each chunk paid once, by the other copy"
    assert all(r.cached for r in manifest.requests) and manifest.text_bytes_billed == 0


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
