"""A pipeline is a boundary: what its inbox's files name is held to its grant, against real Redis and S3 (behind a
counting proxy).

No worker runs: a scan's refusals happen before anything is sent, and what is
accepted only needs to be queued.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

import pytest

from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.inbox import scan
from tests.support.s3faults import S3Faults
from worker.app import QUEUE
from worker.settings import Settings
from worker.storage import Storage

VOICE_ID = "802e3bc2b27e49c2995d23ef70e6ac89"  # the pipeline's own
OTHER_ID = "aaaabbbbccccddddeeeeffff00001111"  # another tenant's trained voice


@pytest.fixture
def faults(stack, stack_env) -> Iterator[S3Faults]:
    proxy = S3Faults(stack.s3.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def other_bucket(stack_env) -> str:
    name = f"tenant-b-{time.monotonic_ns() % 10**9}"
    Storage().create_bucket(name)
    Storage().put(
        name, "private/secret.md", b"# Secret\n\n## One\n\nAnother tenant's manuscript.\n", content_type="text/markdown"
    )
    return name


@pytest.fixture
def inbox(stack_env, bucket, redis_client, faults, monkeypatch: pytest.MonkeyPatch) -> tuple[Pipeline, InboxContext]:
    monkeypatch.setenv("NARRATE_PARSE_SECONDS", "5")
    ctx = InboxContext.from_settings(Settings())
    monkeypatch.setenv("AWS_ENDPOINT_URL", faults.url)
    ctx.storage = Storage()  # the scan's reads go through the proxy, which counts them
    pipeline = Pipeline(
        name="tenant-a",
        inbox=f"s3://{bucket}/inbox/",
        out=f"s3://{bucket}/audio/",
        voice_id=VOICE_ID,
        every="1m",
        budget=1.0,
    )
    return pipeline, ctx


def put(bucket: str, key: str, data: bytes) -> None:
    Storage().put(bucket, key, data, content_type="application/octet-stream")


def jsonl(*entries: dict) -> bytes:
    return "".join(json.dumps(entry) + "\n" for entry in entries).encode()


def report(bucket: str, name: str) -> dict:
    return json.loads(Storage().get(bucket, f"failed/tenant-a/{name}.error.json") or b"{}")


def test_a_manifest_naming_another_buckets_file_is_refused_and_that_file_never_read(
    inbox, bucket, other_bucket, faults
) -> None:
    pipeline, ctx = inbox
    secret = f"s3://{other_bucket}/private/secret.md"
    put(bucket, "inbox/steal.jsonl", jsonl({"text": "A harmless first entry."}, {"file": secret}))
    put(bucket, "inbox/lexicon.jsonl", jsonl({"text": "Words.", "lexicon": f"s3://{other_bucket}/private/secret.md"}))
    put(
        bucket,
        "inbox/clip.jsonl",
        jsonl({"text": "Words.", "voice": f"s3://{other_bucket}/private/secret.md", "transcript": "x"}),
    )
    found = scan(pipeline, ctx=ctx)
    assert (
        sorted(found.refused) == ["inbox/clip.jsonl", "inbox/lexicon.jsonl", "inbox/steal.jsonl"]
        and found.submitted == []
    )
    steal = report(bucket, "steal")
    assert (
        steal["refused"] == secret
        and "steal.jsonl: line 2: `file`" in steal["error"]
        and "outside what this submitter may read" in steal["error"]
    )
    assert report(bucket, "lexicon")["refused"] == report(bucket, "clip")["refused"] == secret
    assert faults.seen("GET", "private/secret.md") == 0, "nothing of the refused file was read"
    assert ctx.client.llen(QUEUE) == 0, "and nothing of the manifest was sent"


def test_a_local_path_is_never_read_and_the_refusal_does_not_say_whether_it_exists(
    inbox, bucket, reference_clip
) -> None:
    pipeline, ctx = inbox
    clip, transcript = reference_clip  # a real clip on this machine: taken as is, it would be uploaded into the bucket
    put(bucket, "inbox/present.jsonl", jsonl({"text": "Words.", "voice": str(clip), "transcript": transcript}))
    put(bucket, "inbox/absent.jsonl", jsonl({"text": "Words.", "voice": f"{clip}.missing", "transcript": transcript}))
    put(bucket, "inbox/book.yaml", f"- file: {clip.parent}/book.md\n".encode())
    assert sorted(scan(pipeline, ctx=ctx).refused) == ["inbox/absent.jsonl", "inbox/book.yaml", "inbox/present.jsonl"]
    present, absent = report(bucket, "present")["error"], report(bucket, "absent")["error"]

    def shape(message: str) -> str:
        return re.sub(r"'[^']*'", "PATH", message.split(": ", 1)[1])

    assert shape(present) == shape(absent), "the same answer whether the file is there or not"
    assert "not one this submitter may use" in present
    assert "is not an S3 URL" in report(bucket, "book")["error"]
    assert list(Storage().list(bucket, "refs/")) == [], "no clip was uploaded"


def test_a_foreign_voice_or_an_outside_output_is_refused_and_a_granted_one_taken(inbox, bucket, other_bucket) -> None:
    pipeline, ctx = inbox
    put(bucket, "inbox/voice-id.jsonl", jsonl({"text": "Words.", "voice_id": OTHER_ID}))
    put(bucket, "inbox/named.jsonl", jsonl({"text": "Words.", "voice": "their-narrator"}))
    put(
        bucket, "inbox/numeric.yaml", b"- text: Words.\n  voice_id: 12345678901234567890123456789012\n"
    )  # YAML reads a number
    put(bucket, "inbox/other-bucket.jsonl", jsonl({"text": "Words.", "out": f"s3://{other_bucket}/planted/"}))
    put(bucket, "inbox/elsewhere.jsonl", jsonl({"text": "Words.", "out": f"s3://{bucket}/elsewhere/"}))
    put(bucket, "inbox/into-inbox.jsonl", jsonl({"text": "Words.", "out": f"s3://{bucket}/audio/../inbox/"}))
    found = scan(pipeline, ctx=ctx)
    assert found.submitted == [] and len(found.refused) == 6
    assert report(bucket, "voice-id")["refused"] == OTHER_ID and report(bucket, "named")["refused"] == "their-narrator"
    assert report(bucket, "numeric")["refused"] == "12345678901234567890123456789012"
    assert report(bucket, "other-bucket")["refused"] == f"s3://{other_bucket}/planted/"
    assert "outside where this submitter may write" in report(bucket, "elsewhere")["error"]
    assert "'..' or '.' segment" in report(bucket, "into-inbox")["error"]
    assert list(Storage().list(other_bucket, "planted/")) == []

    widened = pipeline.model_copy(
        update={"voices": [VOICE_ID, OTHER_ID], "outputs": [f"s3://{bucket}/audio/", f"s3://{bucket}/elsewhere/"]}
    )
    put(bucket, "inbox/voice-id.jsonl", jsonl({"text": "Words.", "voice_id": OTHER_ID}))
    put(bucket, "inbox/elsewhere.jsonl", jsonl({"text": "Words.", "out": f"s3://{bucket}/elsewhere/"}))
    assert sorted(scan(widened, ctx=ctx).submitted) == ["inbox/elsewhere.jsonl", "inbox/voice-id.jsonl"], (
        "granted by the pipeline's file"
    )


def test_a_sidecar_may_not_raise_the_budget_set_a_webhook_or_reach_outside(inbox, bucket, other_bucket) -> None:
    pipeline, ctx = inbox
    sidecars = {
        "rich": "budget: 50\n",
        "uncapped": "budget: null\n",
        "quoted": "budget: '50'\n",
        "hook": "notify: http://169.254.169.254/latest\n",
        "foreign": f"voice_id: {OTHER_ID}\n",
        "clip": f"clip: s3://{other_bucket}/private/secret.md\ntranscript: x\n",
        "thrifty": "budget: 0.5\n",
    }
    for name, sidecar in sidecars.items():
        put(bucket, f"inbox/{name}.voice.yaml", sidecar.encode())
        put(bucket, f"inbox/{name}.txt", f"The file {name}, with a sidecar.".encode())
    found = scan(pipeline, ctx=ctx)
    assert sorted(found.submitted) == ["inbox/thrifty.txt", "inbox/uncapped.txt"], (
        "a lower budget is fine; null keeps the pipeline's"
    )
    assert (
        "above this submitter's $1.00" in report(bucket, "rich")["error"]
        and report(bucket, "quoted")["refused"] == "budget 50"
    )
    assert report(bucket, "hook")["refused"] == "http://169.254.169.254/latest"
    assert report(bucket, "foreign")["refused"] == OTHER_ID
    assert report(bucket, "clip")["refused"] == f"s3://{other_bucket}/private/secret.md"


def read_slowly(data: bytes, name: str):  # noqa: ANN201  (runs in the reading child, imported there by name)
    """A reader that never finishes on one file: what a hostile input does to a real one."""
    if b"hang" in data:
        time.sleep(3600)
    from producer.readers.books import decode_text
    from producer.readers.text import TextSource

    return TextSource(name, decode_text(data, name))


def test_a_read_that_never_ends_is_stopped_at_the_limit_and_filed_as_failed(
    inbox, bucket, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, ctx = inbox
    monkeypatch.setattr("producer.pipelines.parsing.text_source", read_slowly)  # the child imports it from this module
    ctx.settings = ctx.settings.model_copy(update={"parse_seconds": 1.0})
    put(bucket, "inbox/a-hang.txt", b"This one makes the reader hang.")
    put(bucket, "inbox/b-fine.txt", b"This one reads at once.")
    found = scan(pipeline, ctx=ctx)
    assert found.refused == ["inbox/a-hang.txt"] and found.submitted == ["inbox/b-fine.txt"]
    error = report(bucket, "a-hang")["error"]
    assert "took longer than 1 s (NARRATE_PARSE_SECONDS) and was stopped" in error
