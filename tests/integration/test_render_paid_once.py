"""What render_job pays Fish for when S3 fails or another delivery of the job runs: audio bought is held until it is
stored, and a chunk is never bought twice (real SDK → emulator, real S3 API, real Redis)."""

from collections.abc import Callable

import pytest

from tests.support.jobs import clip_voice, make_job
from worker.fish.client import FishClient
from worker.jobs.render import render_job
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext

TEXT = "The North Wind and the Sun were disputing which was the stronger, when a traveller came along."


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
    # the third PUT, whichever chunk it was: rendered in parallel
    [held] = [r for r in manifest.requests if not r.cached]
    assert manifest.text_bytes_billed == held.text_bytes > 0, "the held chunk is billed in this manifest, once"
    assert redis_client.keys("narrate:held:*") == [], "dropped once stored"


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
    # one chunk at a time: the other copy never meets a lease of this one
    monkeypatch.setenv("NARRATE_FISH_CONCURRENCY", "1")
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
