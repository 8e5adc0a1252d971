"""`narrate dev --pipelines FILE`: the local stack with the pipelines service, until Ctrl-C.

Buckets the file names are created, a voice it names but nobody has added is
made from the sample clip, and the command prints how to drop a file into an
inbox; what each run submits and files away is printed as it happens.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from rich.console import Console

from producer.dev.run import stop_on_signals
from producer.dev.stack import LocalStack
from producer.dev.starters import DEV_AWS
from producer.pipelines.config import read_pipelines
from producer.pipelines.status import pipeline_status
from producer.submit.clips import ClipInput, prepare_clip_voice
from producer.submit.jobs import parse_out
from producer.submit.voices import VoiceBook
from worker.errors import BadInput
from worker.infra.redisconn import connect_with
from worker.settings import Settings
from worker.storage import Storage


def run_pipelines_dev(path: Path, *, clip: Path, transcript: str, console: Console, errors: Console) -> int:
    try:
        found = read_pipelines(path).pipelines
    except BadInput as exc:
        errors.print(str(exc), markup=False)
        return 2
    stop_on_signals()
    cloud_key = os.environ.get("FISH_API_KEY") or None
    env_extra = {"NARRATE_PIPELINES_FILE": str(path.resolve())}
    with tempfile.TemporaryDirectory(prefix="narrate-dev-") as workdir:
        interrupted = False
        stack = LocalStack(workdir=Path(workdir), fish_api_key=cloud_key)
        try:
            with console.status("starting Redis, S3, the emulator, a worker and the pipelines service"):
                _start(stack, env_extra=env_extra)
            env = stack.env()
            os.environ.update(env)
            settings = Settings(broker_url=env["NARRATE_BROKER_URL"])
            _make_buckets_and_voices(found, settings=settings, clip=clip, transcript=transcript)
            _print_how_to_drop(found, s3_url=env["AWS_ENDPOINT_URL"], console=console)
            console.print("Ctrl-C stops everything", markup=False)
            _follow(found, settings=settings, console=console)
            return 0
        except KeyboardInterrupt:
            errors.print("interrupted: stopping the local stack")
            interrupted = True
            return 130
        finally:
            # Interrupted, the jobs in hand are abandoned anyway:
            # do not wait out their renders, nor Celery's shutdown.
            stack.stop(grace_seconds=3.0 if interrupted else 10.0, kill=interrupted)


def _start(stack: LocalStack, *, env_extra: dict[str, str]) -> None:
    """The stack, a worker, a worker of the pipelines service and its beat."""
    stack.start()
    # side by side: their start-ups overlap instead of adding up
    started = [
        stack.add_worker(concurrency=2, ready=False),
        stack.add_worker(
            concurrency=2,
            app="producer.pipelines.tasks",
            extra_env=env_extra,
            extra_args=["--queues", "narrate.pipelines"],
            ready=False,
        ),
        stack.add_pipelines_beat(extra_env=env_extra, ready=False),
    ]
    for service in started:
        service.wait_ready()


def _make_buckets_and_voices(found: list, *, settings: Settings, clip: Path, transcript: str) -> None:
    """Every bucket the pipelines name; a voice they name that nobody has added, from the clip."""
    storage, voices = Storage(), VoiceBook.from_settings(settings)
    for pipeline in found:
        for url in filter(None, (pipeline.inbox, pipeline.recurring, pipeline.out)):
            storage.create_bucket(parse_out(url)[0])
        if pipeline.voice and voices.named(pipeline.voice) is None:
            voices.add(
                pipeline.voice,
                prepare_clip_voice([ClipInput(clip, transcript)]),
                bucket=parse_out(pipeline.out)[0],
            )


def _print_how_to_drop(found: list, *, s3_url: str, console: Console) -> None:
    console.print(
        f"pipelines running: S3 at {s3_url}"
        f" (key {DEV_AWS['AWS_ACCESS_KEY_ID']}, secret {DEV_AWS['AWS_SECRET_ACCESS_KEY']})",
        markup=False,
        soft_wrap=True,
    )
    for pipeline in found:
        if pipeline.inbox:
            console.print(
                f"  drop a file: aws --endpoint-url {s3_url} s3 cp book.md {pipeline.inbox}",
                markup=False,
                soft_wrap=True,
            )


def _follow(found: list, *, settings: Settings, console: Console) -> None:  # noqa: ANN001

    client = connect_with(settings)
    seen: dict[str, dict[str, int]] = {}
    while True:
        for pipeline in found:
            totals = pipeline_status(client, pipeline.name)["totals"]
            if totals != seen.get(pipeline.name, totals):
                changed = ", ".join(
                    f"{v - seen[pipeline.name][k]} {k}" for k, v in totals.items() if v != seen[pipeline.name][k]
                )
                console.print(f"{pipeline.name}: {changed}", markup=False, soft_wrap=True)
            seen[pipeline.name] = totals
        time.sleep(1)
