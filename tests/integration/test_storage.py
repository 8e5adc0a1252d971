"""Our S3 adapter against a real S3 API (moto in server mode)."""

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
