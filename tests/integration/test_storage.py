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
    from tests.faults.tcpproxy import TcpProxy

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


def test_no_credentials_is_permanent_and_names_the_chain(stack_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # the default session keeps credentials it found earlier
    with pytest.raises(StorageRejected, match="AWS_ACCESS_KEY_ID.*IAM role"):
        Storage().get("any-bucket", "key")
