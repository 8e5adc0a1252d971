"""Audiobooks end to end: an EPUB through real workers into a chaptered .m4b, in order, resumable, incremental."""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from producer.cli.main import app
from producer.dev.emulator.tones import tone_frequency
from producer.readers.books import read_book
from producer.submit.books import BookSubmitter
from tests.e2e.conftest import load, tts_texts, wait_book
from tests.support.epubs import fable, write_epub
from tests.support.tones import decode_mono, nearest_tone, tone_sequence
from worker import keys
from worker.audio import codec
from worker.books.plan import BookPlan
from worker.books.state import BookState
from worker.errors import BadInput
from worker.settings import Settings
from worker.storage import Storage
from worker.webhooks.signing import verify

pytestmark = pytest.mark.e2e
runner = CliRunner()


def assert_room_tone_not_silence(samples: np.ndarray, rate: int, *, head: float) -> None:
    """The head is a quiet bed of room tone, and nowhere (pauses, gaps between words) is there digital silence."""
    opening = samples[: int(rate * head * 0.8)].astype(np.float64)
    level = 10 * np.log10(np.mean(opening**2))
    assert -85 < level < -60, f"head at {level:.1f} dB RMS: expected room tone, not silence or speech"
    edges = np.diff(np.concatenate(([0], (samples == 0).astype(np.int8), [0])))
    zero_runs = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    assert zero_runs.size == 0 or zero_runs.max() < rate // 100, f"{zero_runs.max() / rate:.2f} s of digital silence"


class _Receiver(BaseHTTPRequestHandler):
    answers: list[int] = []
    received: list[tuple[dict, bytes]] = []
    paths: list[str] = []

    def do_POST(self) -> None:  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((dict(self.headers), body))
        type(self).paths.append(self.path)
        self.send_response(type(self).answers.pop(0) if type(self).answers else 200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


class TestOnOneWorker:
    """Books rendered by one worker, started once for the class; each test has Redis flushed and a bucket of its own."""

    def test_the_acx_preset_writes_what_the_store_asks(
        self, book_worker, book_env, bucket, emulator, voice, tmp_path
    ) -> None:
        book = read_book(str(fable(tmp_path / "fable.epub")))
        plan, _ = BookSubmitter.from_settings(Settings()).submit(
            book, voice=voice, out=f"s3://{bucket}/acx", preset="acx"
        )
        assert wait_book(plan.book_id)["state"] == "succeeded"
        manifest = json.loads(load(bucket, keys.book_manifest("acx", plan.book_id)))
        assert manifest["acx_pass"] is True
        assert (
            manifest["reports"]["book.m4b"]["pass"] and manifest["reports"]["sample"]["pass"]
        )  # every file has its report
        # Opening and closing credits, each a file of its own, spoken in the book's voice
        assert [c["title"] for c in manifest["chapters"]] == [
            "Opening credits",
            "The Wager",
            "The Wind",
            "The Sun",
            "Closing credits",
        ]
        assert [c["role"] for c in manifest["chapters"]][::4] == ["opening_credits", "closing_credits"]
        spoken = tts_texts(emulator)
        assert "The North Wind and the Sun." in spoken and "Written by Aesop." in spoken and "The end." in spoken
        # The retail sample: the first real chapter's opening (this one is shorter than a minute: all of it), no credits
        sample = load(bucket, keys.book_retail_sample("acx", plan.book_id, "mp3"))
        assert manifest["outputs"]["sample"].endswith("/sample.mp3")
        heard = [nearest_tone(f) for f in tone_sequence(*decode_mono(sample))]
        assert heard == [tone_frequency(c.text) for c in plan.chapters[1].chunks]
        for chapter in manifest["chapters"]:
            data = load(*chapter["output_url"].removeprefix("s3://").split("/", 1))
            with av.open(io.BytesIO(data)) as container:
                stream = container.streams.audio[0]
                assert (container.format.name, stream.codec_context.name, stream.rate, stream.channels) == (
                    "mp3",
                    "mp3float",
                    44_100,
                    1,
                )
                assert stream.codec_context.bit_rate == 192_000
        # Fish was asked for 44.1 kHz, and the chunks are stored at the rate they were asked for
        chunk = load(bucket, plan.chapters[0].chunks[0].key)
        assert codec.probe(chunk).sample_rate == 44_100
        with pytest.raises(BadInput, match="--preset acx writes mp3"):
            BookSubmitter.from_settings(Settings()).plan(
                book, voice=voice, out=f"s3://{bucket}/acx", fmt="wav", preset="acx"
            )

    def test_an_epub_becomes_a_chaptered_m4b_in_order(
        self, book_worker, book_env, bucket, emulator, voice, tmp_path
    ) -> None:
        book = read_book(str(fable(tmp_path / "fable.epub")))
        submitter = BookSubmitter.from_settings(Settings())
        plan, cost = submitter.submit(book, voice=voice, out=f"s3://{bucket}/books", fmt="mp3")
        record = wait_book(plan.book_id)
        prefix = "books"

        # Every chunk rendered exactly once, and the estimate was the bill.
        texts = [c.text for chapter in plan.chapters for c in chapter.chunks]
        assert sorted(tts_texts(emulator)) == sorted(texts)
        assert record["bytes_billed"] == cost.text_bytes == plan.text_bytes
        manifest = json.loads(load(bucket, keys.book_manifest(prefix, plan.book_id)))
        assert manifest["chunks"] == {"total": len(texts), "rendered": len(texts), "reused": 0}
        assert manifest["bytes_billed"] == cost.text_bytes

        # The m4b: chapters with titles and times, metadata, cover, and chunks in order.
        m4b = load(bucket, keys.book_audio(prefix, plan.book_id))
        with av.open(io.BytesIO(m4b)) as container:
            chapters = container.chapters()
            assert [c["metadata"]["title"] for c in chapters] == ["The Wager", "The Wind", "The Sun"]
            assert container.metadata.get("title") == "The North Wind and the Sun"
            assert container.metadata.get("artist") == "Aesop"
            assert any(
                s.type == "video" and s.disposition & av.stream.Disposition.attached_pic for s in container.streams
            )
            duration = container.duration / 1e6
        sidecar = json.loads(load(bucket, keys.book_sidecar(prefix, plan.book_id, "json")))
        for marker, side in zip(chapters, sidecar["chapters"]):
            assert marker["start"] / 1000 == pytest.approx(side["start"], abs=0.01)
            assert marker["end"] / 1000 == pytest.approx(side["end"], abs=0.01)
        assert sidecar["chapters"][-1]["end"] == pytest.approx(duration, abs=0.2)
        samples, rate = decode_mono(m4b)
        heard = [nearest_tone(f) for f in tone_sequence(samples, rate)]
        assert heard == [tone_frequency(t) for t in texts]

        # Chapter files, subtitles, and a loudness report inside the ACX limits.
        for chapter in manifest["chapters"]:
            bucket_name, key = chapter["output_url"].removeprefix("s3://").split("/", 1)
            assert len(tone_sequence(*decode_mono(load(bucket_name, key)))) == chapter["chunks"]
            report = chapter["loudness"]
            assert report["rms_db"] == pytest.approx(-20.0, abs=0.3)
            assert report["checks"]["rms"]["pass"] and report["checks"]["peak"]["pass"]
            assert chapter["loudness_before"]["rms_db"] > -18  # the tones start louder than the target
            assert chapter["loudness_before"]["checks"]["rms"]["pass"] is False
            assert report["pass"] and report["checks"]["room_tone"]["pass"] and report["checks"]["true_peak"]["pass"]
            assert_room_tone_not_silence(*decode_mono(load(bucket_name, key)), head=plan.pauses.head_seconds)
        status = runner.invoke(app, ["status", plan.book_id, "--json"])
        assert status.exit_code == 0, status.output
        reported = json.loads(status.output)
        assert reported["state"] == "succeeded" and [c["chunks_total"] for c in reported["chapters"]] == [
            len(c.chunks) for c in plan.chapters
        ]
        assert all(c["loudness"]["normalized"]["pass"] for c in reported["chapters"]), (
            "status --json carries each file's report"
        )
        srt = load(bucket, keys.book_sidecar(prefix, plan.book_id, "srt")).decode()
        vtt = load(bucket, keys.book_sidecar(prefix, plan.book_id, "vtt")).decode()
        # A sentence a cue (these chunks are a sentence each), on at most two lines of 42 characters.
        assert srt.count(" --> ") == len(texts) and vtt.startswith("WEBVTT") and texts[0] in srt.replace("\n", " ")
        assert all(len(line) <= 42 for line in srt.splitlines())

    def test_editing_one_paragraph_re_renders_only_its_chunks(
        self, book_worker, book_env, bucket, emulator, voice, tmp_path
    ) -> None:
        chapters = [
            ("One", ["Alpha paragraph stays the same.", "Beta paragraph is about to change."]),
            ("Two", ["Gamma paragraph stays too."]),
        ]
        original = write_epub(tmp_path / "v1.epub", title="Drafts", author="A. Writer", chapters=chapters, cover=False)
        submitter = BookSubmitter.from_settings(Settings())
        first, _ = submitter.submit(read_book(str(original)), voice=voice, out=f"s3://{bucket}/drafts")
        wait_book(first.book_id)
        emulator.reset()
        emulator.control(tone_mode=True)

        chapters[0][1][1] = "Beta paragraph, now edited by the author."
        edited = write_epub(tmp_path / "v2.epub", title="Drafts", author="A. Writer", chapters=chapters, cover=False)
        estimate_out = runner.invoke(
            app,
            [
                "estimate",
                str(edited),
                "--voice",
                str(voice_path(voice)),
                "--transcript",
                voice.clips[0].transcript,
                "--out",
                f"s3://{bucket}/drafts",
                "--json",
            ],
        )
        assert estimate_out.exit_code == 0, estimate_out.output
        [estimated] = json.loads(estimate_out.output)
        second, cost = submitter.submit(read_book(str(edited)), voice=voice, out=f"s3://{bucket}/drafts")
        record = wait_book(second.book_id)

        assert tts_texts(emulator) == ["Beta paragraph, now edited by the author."]
        assert record["chunks_rendered"] == 1 and record["chunks_reused"] == second.chunk_count - 1
        assert record["bytes_billed"] == len(b"Beta paragraph, now edited by the author.") == cost.uncached_bytes
        assert (
            estimated["cached_chunks"] == second.chunk_count - 1 and estimated["uncached_bytes"] == cost.uncached_bytes
        )

    def test_the_completion_webhook_is_signed_and_retried(
        self, book_worker, book_env, bucket, voice, tmp_path, redis_client
    ) -> None:
        _Receiver.answers, _Receiver.received, _Receiver.paths = [500], [], []
        server = HTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            path = write_epub(
                tmp_path / "n.epub",
                title="Notify",
                author="C",
                chapters=[("Only", ["Tell me when it is done."])],
                cover=False,
            )
            url = f"http://127.0.0.1:{server.server_port}/hook?token=t0ken"
            result = runner.invoke(
                app,
                [
                    "book",
                    str(path),
                    "--voice",
                    str(voice_path(voice)),
                    "--transcript",
                    voice.clips[0].transcript,
                    "--out",
                    f"s3://{bucket}/n",
                    "--notify",
                    url,
                    "--watch",
                ],
            )
            assert result.exit_code == 0, result.output
            deadline = time.monotonic() + 30
            while len(_Receiver.received) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            server.shutdown()
        assert len(_Receiver.received) == 2, "the first delivery failed (500) and was retried"
        headers, body = _Receiver.received[-1]
        assert verify(body, headers["X-Narrate-Signature"], secret="webhook-test-secret")
        payload = json.loads(body)
        assert (
            payload["event"] == "book.finished"
            and payload["state"] == "succeeded"
            and payload["m4b_url"].endswith("book.m4b")
        )
        assert headers["Host"] == f"127.0.0.1:{server.server_port}" and _Receiver.paths[-1] == "/hook?token=t0ken"
        book_id = payload["book_id"]
        deadline = time.monotonic() + 10
        while BookState(redis_client).get(book_id).get("notify_status") != "delivered" and time.monotonic() < deadline:
            time.sleep(0.1)
        status = runner.invoke(app, ["status", book_id, "--json"])
        assert json.loads(status.output)["notify_status"] == "delivered" and "t0ken" not in status.output, (
            "the query stays out of status"
        )
        plan_json = Storage().get(bucket, keys.book_plan("n", book_id)) or b""
        assert b"/hook" in plan_json and b"t0ken" not in plan_json, "the query stays out of plan.json"


def voice_path(voice) -> Path:  # noqa: ANN001
    """The clip file behind a prepared voice (the session's reference clip)."""
    from producer.dev.run import sample_reference_clip

    return sample_reference_clip()


def test_a_killed_worker_resumes_without_paying_twice(
    workers, book_env, bucket, emulator, voice, tmp_path, stack
) -> None:
    emulator.control(latency=0.4)
    first = workers()
    paragraphs = [f"Paragraph number {n} of the long chapter." for n in range(14)]
    path = write_epub(tmp_path / "long.epub", title="Long", author="B", chapters=[("Long", paragraphs)], cover=False)
    submitter = BookSubmitter.from_settings(Settings())
    plan, _ = submitter.submit(read_book(str(path)), voice=voice, out=f"s3://{bucket}/long")
    state = BookState.from_url(Settings().broker_url)
    deadline = time.monotonic() + 60
    while len(state.done_indexes(plan.book_id, 0)) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(first.process.pid, signal.SIGKILL)  # the worker and its pool, mid-book
    first.process.wait(timeout=10)
    done_before = state.done_indexes(plan.book_id, 0)
    assert 4 <= len(done_before) < len(paragraphs)

    # A fresh worker with the reconciler: the stalled book gets only its missing chunks again.
    workers(beat=True, NARRATE_RECONCILE_SECONDS="1", NARRATE_RECONCILE_STALE_SECONDS="2")
    wait_book(plan.book_id, timeout=120)
    requested = tts_texts(emulator)
    finished_texts = {plan.chapters[0].chunks[i].text for i in done_before}
    assert all(requested.count(text) == 1 for text in finished_texts), "a finished chunk was paid for twice"
    assert set(requested) == set(paragraphs)
    assert len(requested) - len(paragraphs) <= 2, "at most the chunks in flight at the kill are rendered again"


def test_over_budget_and_unreadable_books_enqueue_nothing(book_env, bucket, redis_client, voice, tmp_path) -> None:
    path = fable(tmp_path / "fable.epub")
    args = ["--voice", str(voice_path(voice)), "--transcript", voice.clips[0].transcript, "--out", f"s3://{bucket}/x"]
    over = runner.invoke(app, ["book", str(path), *args, "--budget", "0.0001"])
    assert over.exit_code == 2 and "over --budget" in over.output
    broken = tmp_path / "broken.epub"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    refused = runner.invoke(app, ["submit", str(broken), *args])
    assert refused.exit_code == 2 and "not a readable EPUB" in refused.output
    assert not [k for k in redis_client.keys("narrate:*")], "nothing may be enqueued or recorded"
    assert redis_client.llen("narrate") == 0


def test_plan_is_stored_beside_the_outputs(book_env, bucket, voice, tmp_path, redis_client) -> None:
    submitter = BookSubmitter.from_settings(Settings())
    plan, _ = submitter.submit(read_book(str(fable(tmp_path / "f.epub"))), voice=voice, out=f"s3://{bucket}/p")
    stored = BookPlan.model_validate_json(load(bucket, keys.book_plan("p", plan.book_id)))
    assert stored == plan and redis_client.llen("narrate") == plan.chunk_count
    message = json.loads(redis_client.lindex("narrate", 0))
    assert message["headers"]["task"] == "narrate.book.chunk" and len(message["body"]) < 4000
