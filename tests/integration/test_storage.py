"""Our S3 adapter against a real S3 API (moto in server mode)."""

import os

import boto3
import pytest

from worker.errors import StorageRejected, StorageUnavailable
from worker.storage import Storage


def test_put_get_exists_delete(bucket: str) -> None:
    storage = Storage()
    assert not storage.exists(bucket, "a/b.txt")
    assert storage.get(bucket, "a/b.txt") is None
    storage.put(bucket, "a/b.txt", b"hello", content_type="text/plain")
    assert storage.exists(bucket, "a/b.txt")
    assert storage.get(bucket, "a/b.txt") == b"hello"
    storage.delete(bucket, "a/b.txt")
    assert not storage.exists(bucket, "a/b.txt")


def test_missing_bucket_is_permanent(stack_env: dict[str, str]) -> None:
    storage = Storage()
    with pytest.raises(StorageRejected, match="does not exist"):
        storage.check_bucket("no-such-bucket-here")
    with pytest.raises(StorageRejected, match="bucket does not exist"):
        storage.put("no-such-bucket-here", "k", b"x", content_type="text/plain")


def test_unreachable_endpoint_is_transient(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    storage = Storage()
    with pytest.raises(StorageUnavailable, match="unreachable"):
        storage.get("any-bucket", "key")


def test_a_reset_in_the_middle_of_a_download_is_transient(stack, bucket: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.tcpproxy import TcpProxy

    data = os.urandom(2_000_000)
    Storage().put(bucket, "big.bin", data, content_type="application/octet-stream")
    proxy = TcpProxy(target_port=int(stack.s3.url.rsplit(":", 1)[1])).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        storage = Storage()
        proxy.cut_next_response(after_bytes=300_000)
        with pytest.raises(StorageUnavailable, match="will retry"):
            storage.get(bucket, "big.bin")
        assert storage.get(bucket, "big.bin") == data, "the next read, on a fresh connection, gets it all"
    finally:
        proxy.stop()


def test_no_credentials_is_permanent_and_names_the_chain(
    stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the default session keeps credentials it found earlier
    with pytest.raises(StorageRejected, match="AWS_ACCESS_KEY_ID.*IAM role"):
        Storage().get("any-bucket", "key")


def test_an_object_composed_of_files_and_other_objects_holds_their_bytes_in_order(bucket: str, tmp_path) -> None:
    from worker.storage.multipart import MIN_PART, Copy, Local, Remote, plan_parts

    storage, client = Storage(), boto3.client("s3")
    mib = 1024 * 1024
    sources = {
        "big-1": os.urandom(2 * MIN_PART + 3 * mib + 11),
        "small": os.urandom(300_000),
        "big-2": os.urandom(2 * MIN_PART + 17),
    }
    for key, data in sources.items():
        storage.put(bucket, key, data, content_type="application/octet-stream")
    (tmp_path / "head").write_bytes(b"head" * 1000)
    (tmp_path / "tail").write_bytes(b"the end")
    pieces = [
        Local(tmp_path / "head"),
        *(Remote(key, 0, len(data)) for key, data in sources.items()),
        Local(tmp_path / "tail"),
    ]
    assert any(isinstance(part, Copy) for part in plan_parts(pieces)), "some bytes must be copied on the S3 side"

    storage.compose(bucket, "book.m4b", pieces, content_type="audio/mp4", scratch=tmp_path)

    expected = b"head" * 1000 + b"".join(sources.values()) + b"the end"
    assert storage.get(bucket, "book.m4b") == expected
    assert storage.size(bucket, "book.m4b") == len(expected)
    assert client.head_object(Bucket=bucket, Key="book.m4b")["ContentType"] == "audio/mp4"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["head", "tail"], "the uploaded parts' files are gone"


def test_a_composition_that_fails_leaves_no_object_and_no_upload(bucket: str, tmp_path) -> None:
    from worker.storage.multipart import MIN_PART, Local, Remote

    storage, client = Storage(), boto3.client("s3")
    storage.put(bucket, "present", os.urandom(MIN_PART + 5), content_type="application/octet-stream")
    (tmp_path / "head").write_bytes(b"x" * 100)
    pieces = [Local(tmp_path / "head"), Remote("present", 0, MIN_PART + 5), Remote("gone", 0, MIN_PART * 2)]
    with pytest.raises(StorageUnavailable, match="went missing"):
        storage.compose(bucket, "book.m4b", pieces, content_type="audio/mp4", scratch=tmp_path)
    assert storage.size(bucket, "book.m4b") is None
    assert client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_a_store_without_part_copies_gets_the_bytes_sent_instead(
    bucket: str, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import botocore.exceptions

    from worker.storage.multipart import MIN_PART, Local, Remote

    storage = Storage()
    source = os.urandom(2 * MIN_PART + 99)
    storage.put(bucket, "chapter", source, content_type="application/octet-stream")
    (tmp_path / "head").write_bytes(b"index")

    def no_copies(**_: object) -> None:
        raise botocore.exceptions.ClientError(
            {"Error": {"Code": "NotImplemented", "Message": "no"}, "ResponseMetadata": {"HTTPStatusCode": 501}},
            "UploadPartCopy",
        )

    monkeypatch.setattr(storage._client, "upload_part_copy", no_copies)
    storage.compose(
        bucket,
        "book.m4b",
        [Local(tmp_path / "head"), Remote("chapter", 0, len(source))],
        content_type="audio/mp4",
        scratch=tmp_path,
    )
    assert storage.get(bucket, "book.m4b") == b"index" + source


def test_many_objects_are_deleted_in_batches_and_missing_ones_are_no_error(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = Storage()
    names = [f"parts/{n:04d}" for n in range(1_005)]
    for name in names[:3] + names[-3:]:
        storage.put(bucket, name, b"x", content_type="text/plain")
    storage.put(bucket, "keep", b"x", content_type="text/plain")
    calls = []
    real = storage._client.delete_objects
    monkeypatch.setattr(
        storage._client, "delete_objects", lambda **kw: calls.append(len(kw["Delete"]["Objects"])) or real(**kw)
    )
    storage.delete_many(bucket, names)
    assert calls == [1_000, 5]
    assert [key for key, _ in storage.list(bucket, "")] == ["keep"]
