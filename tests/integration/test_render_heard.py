"""A single job heard back: its MP3 rendered from WAV takes the recognizer can hear, a faulted take retaken, and
its manifest reporting what still needs a person, placed in the job's audio (real SDK → emulator, S3, Redis)."""

from __future__ import annotations

import io

import av
import pytest

from tests.support.jobs import clip_voice, make_job
from worker.contract import QualityCheck
from worker.fish.client import FishClient
from worker.jobs.render import render_job
from worker.renders.held import HeldRenders
from worker.settings import Settings
from worker.storage import Storage
from worker.voices.speaker import RenderContext

TEXT = (
    "The North Wind and the Sun were disputing which was the stronger, when a traveller came along wrapped in a"
    " warm cloak. They agreed that the one who first made the traveller take his cloak off should be considered"
    " stronger than the other."
)


@pytest.fixture
def ctx(stack_env, redis_client, monkeypatch) -> RenderContext:
    monkeypatch.setenv("NARRATE_CHUNK_BYTES", "120")
    settings = Settings()
    return RenderContext(
        settings=settings, storage=Storage(), fish=FishClient(settings), held=HeldRenders(redis_client)
    )


def heard_job(ctx, bucket, clip, mode: str, *, text: str = TEXT):  # noqa: ANN001, ANN201
    job = make_job(text=text, voice=clip_voice(ctx.storage, bucket=bucket, clip=clip), bucket=bucket)
    return job.model_copy(update={"qc": QualityCheck(mode=mode, language="en")})


def kinds(emulator) -> list[str]:  # noqa: ANN001
    return [entry["kind"] for entry in emulator.requests() if entry["kind"] in ("tts", "asr")]


def test_a_one_request_job_is_heard_from_a_wav_take_and_encoded_to_its_format(
    ctx, emulator, bucket, reference_clip
) -> None:
    job = heard_job(ctx, bucket, reference_clip, "report", text="The lamps were lit along the quay at nine.")
    manifest = render_job(job, ctx=ctx, attempt=1)
    assert kinds(emulator) == ["tts", "asr"]
    assert [e["format"] for e in emulator.requests() if e["kind"] == "tts"] == ["wav"]
    assert manifest.qc is not None
    assert (manifest.qc["mode"], manifest.qc["chunks_heard"], manifest.qc["left_failing"]) == ("report", 1, 0)
    with av.open(io.BytesIO(ctx.storage.get(bucket, manifest.output.key))) as audio:
        assert audio.format.name == "mp3"


def test_a_faulted_take_is_retaken_and_the_manifest_counts_it(ctx, emulator, bucket, reference_clip) -> None:
    emulator.control(fault_repeat=0.3)  # the second chunk's first take repeats a phrase, its retake is clean
    manifest = render_job(heard_job(ctx, bucket, reference_clip, "retake"), ctx=ctx, attempt=1)
    qc = manifest.qc
    assert qc is not None and qc["retakes"] >= 1, qc
    assert kinds(emulator).count("tts") == qc["takes_heard"] == qc["chunks_heard"] + qc["retakes"]
    assert manifest.text_bytes_billed > len(TEXT.encode()), "a retake is billed like any render"
    assert qc["left_failing"] == 0


def test_a_chunk_left_failing_is_placed_in_the_jobs_audio(ctx, emulator, bucket, reference_clip) -> None:
    emulator.control(fault_cut=1.0)
    manifest = render_job(heard_job(ctx, bucket, reference_clip, "report"), ctx=ctx, attempt=1)
    qc = manifest.qc
    assert qc is not None and qc["left_failing"] == qc["chunks_heard"] >= 2
    first, second = qc["failing"][:2]
    assert first["chunk"] == 1 and first["start_seconds"] == 0 and first["faults"][0]["kind"] == "cut"
    assert second["start_seconds"] > first["end_seconds"], "after the first chunk and its pause"
    assert second["end_seconds"] <= manifest.output.duration_seconds + 0.05
    assert all(first["start_seconds"] <= f["start"] <= first["end_seconds"] for f in first["faults"] if f["start"])


def test_a_job_without_qc_is_not_heard(ctx, emulator, bucket, reference_clip) -> None:
    job = make_job(text=TEXT, voice=clip_voice(ctx.storage, bucket=bucket, clip=reference_clip), bucket=bucket)
    manifest = render_job(job, ctx=ctx, attempt=1)
    assert "asr" not in kinds(emulator) and manifest.qc is None


def test_the_manifest_reports_what_hearing_and_retakes_cost(ctx, emulator, bucket, reference_clip) -> None:
    emulator.control(fault_repeat=0.3)
    manifest = render_job(heard_job(ctx, bucket, reference_clip, "retake"), ctx=ctx, attempt=1)
    qc = manifest.qc
    asr = [entry for entry in emulator.requests() if entry["kind"] == "asr"]
    assert qc is not None and qc["asr_seconds_billed"] == sum(entry["seconds_billed"] for entry in asr) > 0
    assert qc["asr_cost_usd"] == round(qc["asr_seconds_billed"] * ctx.settings.asr_price_per_hour / 3600, 6)
    retaken = [r for r in manifest.requests if r.chunk == 1][1:]  # the second chunk's takes after its first
    assert qc["retake_bytes_billed"] == sum(r.text_bytes for r in retaken) > 0
    assert qc["retake_cost_usd"] == round(qc["retake_bytes_billed"] * ctx.settings.price_per_million_bytes / 1e6, 6)
