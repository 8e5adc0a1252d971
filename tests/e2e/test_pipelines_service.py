"""The pipelines service as it runs: two beats, a pipelines worker and a render worker, all real processes."""

from __future__ import annotations

import json
import time

import pytest

from producer.dev.services import stop_all
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.voices import VoiceBook
from worker.settings import Settings
from worker.storage import Storage

pytestmark = pytest.mark.e2e


def wait_for(predicate, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def test_two_beats_render_every_dropped_file_once_and_a_recurring_one_per_run(
    stack, stack_env, emulator, bucket, reference_clip, tmp_path, redis_client
) -> None:
    VoiceBook.from_settings(Settings()).add("narrator", prepare_clip_voice([ClipInput(*reference_clip)]), bucket=bucket)
    storage = Storage()
    storage.put(bucket, "news/today.txt", b"Today's bulletin, read every two seconds.", content_type="text/plain")
    config = tmp_path / "pipelines.yaml"
    config.write_text(f"""\
pipelines:
  - name: inbox
    inbox: s3://{bucket}/inbox/
    out: s3://{bucket}/audio/
    voice: narrator
    every: 1s
  - name: bulletin
    recurring: s3://{bucket}/news/today.txt
    out: s3://{bucket}/bulletins/{{date}}/{{time}}/
    voice: narrator
    every: 2s
""")
    env = {"NARRATE_PIPELINES_FILE": str(config)}
    services = [
        stack.add_worker(concurrency=2, ready=False),
        stack.add_worker(
            concurrency=2,
            app="producer.pipelines.tasks",
            extra_env=env,
            extra_args=["--queues", "narrate.pipelines"],
            ready=False,
        ),
    ]
    try:
        for service in services:  # spawned side by side, then waited for; the beats likewise
            service.wait_ready()
        services += [
            stack.add_pipelines_beat(extra_env=env, ready=False),
            stack.add_pipelines_beat(extra_env=env, ready=False),
        ]
        for beat in services[2:]:
            beat.wait_ready()
        for n in range(3):
            storage.put(bucket, f"inbox/note-{n}.txt", f"Dropped note number {n}.".encode(), content_type="text/plain")
        storage.put(
            bucket, "inbox/book.md", b"# A Book\n\n## One\n\nDropped as a book.\n", content_type="text/markdown"
        )
        results = lambda: [k for k, _ in storage.list(bucket, "processed/inbox/") if k.endswith(".result.json")]  # noqa: E731
        runs = lambda: {k.split("/")[2] for k, _ in storage.list(bucket, "bulletins/") if k.endswith(".json")}  # noqa: E731
        wait_for(lambda: len(results()) == 4, timeout=90)
        wait_for(lambda: len(runs()) >= 2, timeout=30)  # the bulletin ran more than once meanwhile
        stop_all(services[1:], kill=True)  # the beats and the pipelines worker first: no run starts or goes on
        # Every render sent has been made and acknowledged (late: after its output is written), and none waits:
        # the render worker is idle, with nothing a graceful stop would let it finish. (Ticks the pipelines worker
        # had prefetched stay unacknowledged: only the renders' messages count.)
        held = lambda: sum(json.loads(entry)[2] == "narrate" for entry in redis_client.hvals("unacked"))  # noqa: E731
        busy = lambda: redis_client.llen("narrate") or held() or emulator.stats()["in_flight"]  # noqa: E731
        wait_for(lambda: not busy(), timeout=30)
    finally:
        stop_all(services, kill=True)
        for service in services:
            stack.services.remove(service)
    rendered = [r["text"] for r in emulator.requests() if r["status"] == 200 and r["kind"] == "tts"]
    dropped = sorted(t for t in rendered if t.startswith("Dropped"))
    assert dropped == ["Dropped as a book.", *(f"Dropped note number {n}." for n in range(3))], "each file once"
    outputs = sorted(json.loads(storage.get(bucket, key))["output_url"] for key in results())
    assert outputs[0].startswith(f"s3://{bucket}/audio/book/") and outputs[0].endswith("/book.m4b")
    assert all(o.startswith(f"s3://{bucket}/audio/note-") for o in outputs[1:])
    assert len(runs()) >= 2, "one output per run, each under its own {time}"
    assert len(runs()) == sum(1 for t in rendered if t.startswith("Today's")), (
        "one render per run: two beats did not double it"
    )
