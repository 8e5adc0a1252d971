"""An inbox scan against real Redis and S3 (behind a proxy that can answer S3's errors): one bad file never stops the
others."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore.retries.standard import ExponentialBackoff

from producer.pipelines.config import Pipeline
from producer.pipelines.context import InboxContext
from producer.pipelines.inbox import scan
from producer.pipelines.state import InboxState
from tests.support.s3faults import S3Faults
from worker.errors import StorageUnavailable
from worker.settings import Settings
from worker.storage import Storage

VOICE_ID = "802e3bc2b27e49c2995d23ef70e6ac89"  # sending needs no Fish call: no worker runs here


@pytest.fixture
def faults(stack, stack_env, monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Faults]:
    proxy = S3Faults(stack.s3.url)
    yield proxy
    proxy.stop()


@pytest.fixture
def inbox(stack_env, bucket, redis_client, faults, monkeypatch: pytest.MonkeyPatch) -> tuple[Pipeline, InboxContext]:
    ctx = InboxContext.from_settings(Settings())
    monkeypatch.setenv("AWS_ENDPOINT_URL", faults.url)
    ctx.storage = Storage()  # the scan's own reads, copies and reports go through the proxy
    pipeline = Pipeline(
        name="iso", inbox=f"s3://{bucket}/inbox/", out=f"s3://{bucket}/audio/", voice_id=VOICE_ID, every="1m"
    )
    return pipeline, ctx


def put(bucket: str, key: str, data: bytes) -> None:
    Storage().put(bucket, key, data, content_type="application/octet-stream")


def listing(bucket: str, prefix: str) -> list[str]:
    return sorted(key for key, _ in Storage().list(bucket, prefix))


def test_a_denied_file_and_a_name_too_long_for_a_file_leave_the_others_scanned(inbox, bucket, faults) -> None:
    pipeline, ctx = inbox
    long_name = "inbox/" + "a-very-long-title-" * 16 + ".md"  # 300 characters: fine for S3, too long for a file name
    put(bucket, long_name, b"# Long\n\n## One\n\nA book with a long name.\n")
    put(bucket, "inbox/denied.txt", b"S3 will not give this one out.")
    put(bucket, "inbox/zz-last.txt", b"The last file of the scan.")
    faults.answer("GET", "inbox/denied.txt", status=403)

    found = scan(pipeline, ctx=ctx)

    assert sorted(found.submitted) == [long_name, "inbox/zz-last.txt"] and found.refused == ["inbox/denied.txt"]
    error = json.loads(Storage().get(bucket, "failed/iso/denied.error.json"))
    assert "access denied" in error["error"] and error["source"].endswith("inbox/denied.txt")
    assert ctx.client.get("narrate:pipeline:iso:cursor") == b"", "the scan went to the end of the inbox"


def test_a_transient_s3_error_is_retried_by_the_next_run_not_filed_as_failed(
    inbox, bucket, faults, monkeypatch: pytest.MonkeyPatch
) -> None:
    pipeline, ctx = inbox
    # botocore still makes all its attempts at the 503 SlowDown, without its back-off between them (up to 2 s,
    # then 4 s): the attempts are what this test is about, not the waits.
    monkeypatch.setattr(ExponentialBackoff, "delay_amount", lambda self, context: 0)
    put(bucket, "inbox/a.txt", b"The first file.")
    put(bucket, "inbox/b.txt", b"S3 is slow to give this one out.")
    faults.answer("GET", "inbox/b.txt", status=503)

    with pytest.raises(StorageUnavailable):
        scan(pipeline, ctx=ctx)
    assert listing(bucket, "failed/") == [], "nothing is wrong with the file: it is not filed as failed"
    assert listing(bucket, "inbox/") == ["inbox/a.txt", "inbox/b.txt"]
    assert ctx.client.get("narrate:pipeline:iso:cursor") == b"inbox/a.txt", (
        "the next run starts at the file that failed"
    )

    faults.rules.clear()
    assert scan(pipeline, ctx=ctx).submitted == ["inbox/b.txt"], (
        "the next run takes it, and a.txt (in flight) is not sent twice"
    )


def test_files_of_the_same_name_in_two_folders_keep_their_own_copies_and_reports(inbox, bucket) -> None:
    pipeline, ctx = inbox
    put(bucket, "inbox/a/book.txt", b"\xff\xff\xfd not text")
    put(bucket, "inbox/b/book.txt", b"\xc3\x28 not text either")
    assert sorted(scan(pipeline, ctx=ctx).refused) == ["inbox/a/book.txt", "inbox/b/book.txt"]
    assert listing(bucket, "failed/") == [
        "failed/iso/a/book.error.json",
        "failed/iso/a/book.txt",
        "failed/iso/b/book.error.json",
        "failed/iso/b/book.txt",
    ]
    assert Storage().get(bucket, "failed/iso/a/book.txt") == b"\xff\xff\xfd not text"
    assert json.loads(Storage().get(bucket, "failed/iso/b/book.error.json"))["source"].endswith("inbox/b/book.txt")


def test_a_source_too_long_to_keep_its_path_is_filed_under_a_short_name(inbox, bucket) -> None:
    pipeline, ctx = inbox
    key = (
        "inbox/" + "deep-folder/" * 84 + "bad.txt"
    )  # 1,021 bytes: under S3's 1,024, over it once moved under failed/iso/
    put(bucket, key, b"\xff not text")
    assert scan(pipeline, ctx=ctx).refused == [key]
    [report, copy] = listing(bucket, "failed/iso/long-names/")  # <hash>.error.json, <hash>.txt
    assert Storage().get(bucket, copy) == b"\xff not text" and listing(bucket, "inbox/") == []
    assert json.loads(Storage().get(bucket, report))["source"].endswith(key)


def test_a_large_copy_is_made_in_parts(inbox, bucket) -> None:
    pipeline, ctx = inbox
    data = b"\xff" * (9 * 1024 * 1024)  # over the 8 MB part size: the 5 GB case (one CopyObject's limit), scaled down
    put(bucket, "inbox/huge.txt", data)
    assert scan(pipeline, ctx=ctx).refused == ["inbox/huge.txt"]
    head = Storage()._client.head_object(Bucket=bucket, Key="failed/iso/huge.txt")
    assert head["ETag"].strip('"').endswith("-2"), "copied as a multipart upload of two parts (UploadPartCopy)"
    assert head["ContentLength"] == len(data) and listing(bucket, "inbox/") == []


def test_a_file_over_the_days_budget_is_not_downloaded_again_while_it_waits(inbox, bucket, faults) -> None:
    pipeline, ctx = inbox
    thrifty = pipeline.model_copy(update={"budget_per_day": 0.000001})
    put(bucket, "inbox/long.txt", b"Words that cost more than the day allows. " * 5)
    assert scan(thrifty, ctx=ctx).held == ["inbox/long.txt"]
    assert scan(thrifty, ctx=ctx).held == ["inbox/long.txt"]
    assert faults.seen("GET", "inbox/long.txt") == 1, "the second scan knew it from its ETag and size"
    roomy = pipeline.model_copy(update={"budget_per_day": 100.0})
    assert scan(roomy, ctx=ctx).submitted == ["inbox/long.txt"], "with room in the budget it is read and sent"


def test_seen_records_keep_a_summary_and_are_forgotten_after_their_days(redis_client) -> None:
    state = InboxState(redis_client, "mem", keep_days=30)
    report = {
        "source": "s3://b/inbox/x.md",
        "kind": "book",
        "id": "b1",
        "output_url": "s3://b/audio/x.m4b",
        "reports": {"x.m4b": {"rms_db": -20.0, "chapters": ["…"] * 500}},
        "outputs": {"m4b": "s3://b/audio/x.m4b"},
    }
    state.mark_seen("d1", report, tag="etag1:10")
    assert state.seen("d1") == {
        "source": "s3://b/inbox/x.md",
        "kind": "book",
        "id": "b1",
        "output_url": "s3://b/audio/x.m4b",
    }
    assert state.seen_upload("etag1:10") == state.seen("d1")
    forgetful = InboxState(redis_client, "mem", keep_days=-1)  # everything is already older than its days
    forgetful.mark_seen("d2", report, tag="etag2:10")
    assert forgetful.seen("d1") is None and forgetful.seen("d2") is None and forgetful.seen_upload("etag1:10") is None
    assert sorted(redis_client.keys("narrate:pipeline:mem:*")) == [], "nothing of them is left"


def test_a_readers_crash_on_one_file_files_that_one_and_the_scan_goes_on(inbox, bucket) -> None:
    pipeline, ctx = inbox
    put(
        bucket, "inbox/evil.voice.yaml", b"[" * 5000
    )  # nested past the YAML reader's recursion: it crashes, it does not refuse
    put(bucket, "inbox/evil.txt", b"A file whose sidecar crashes the reader.")
    put(bucket, "inbox/fine.txt", b"A file beside it.")
    found = scan(pipeline, ctx=ctx)
    assert found.refused == ["inbox/evil.txt"] and found.submitted == ["inbox/fine.txt"]
    error = json.loads(Storage().get(bucket, "failed/iso/evil.error.json"))
    assert "failed unexpectedly (RecursionError" in error["error"] and "report this error" in error["fix"]


def test_an_object_over_the_fetch_limit_is_refused_by_its_size_and_never_downloaded(
    inbox, bucket, faults, monkeypatch
) -> None:
    from worker.settings import get_settings

    monkeypatch.setenv("NARRATE_FETCH_MAX_BYTES", "1000")
    get_settings.cache_clear()
    pipeline, ctx = inbox
    ctx.settings = Settings()
    put(bucket, "inbox/huge.txt", b"A long text. " * 200)  # 2,600 bytes: a 40 GB upload, scaled down
    put(bucket, "sources/big.txt", b"Too big to fetch. " * 100)
    put(bucket, "inbox/list.jsonl", json.dumps({"file": f"s3://{bucket}/sources/big.txt"}).encode() + b"\n")
    put(bucket, "inbox/small.txt", b"A short text.")
    pipeline = pipeline.model_copy(update={"sources": [f"s3://{bucket}/inbox/", f"s3://{bucket}/sources/"]})
    found = scan(pipeline, ctx=ctx)
    assert found.submitted == ["inbox/small.txt"] and "inbox/huge.txt" in found.refused
    error = json.loads(Storage().get(bucket, "failed/iso/huge.error.json"))["error"]
    assert "2,600 bytes, over the 1,000 bytes limit" in error and "NARRATE_FETCH_MAX_BYTES" in error
    assert "inbox/list.jsonl" in found.refused
    assert "NARRATE_FETCH_MAX_BYTES" in json.loads(Storage().get(bucket, "failed/iso/list.error.json"))["error"]
    assert faults.seen("GET", "inbox/huge.txt") == 0 and faults.seen("GET", "sources/big.txt") == 0, (
        "refused by HEAD alone"
    )
    get_settings.cache_clear()
