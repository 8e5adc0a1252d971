"""S3 access: the only boto3 import. Errors come back as Transient or Permanent (worker.storage.s3_errors).

`Storage` is the core client; an object put together from parts is composed by worker.storage.multipart_upload.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import boto3.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from worker.errors import StorageRejected, StorageUnavailable
from worker.storage.multipart import Piece
from worker.storage.multipart_upload import compose_object
from worker.storage.s3_errors import Missing, errors_mapped, unreachable

# A large file goes up in 8 MB parts, four at a time: about 40 MB of buffers (boto3's default of ten took 100 MB).
_UPLOADS = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)


def make_client() -> Any:
    """An S3 client configured by boto3's own environment (AWS_ENDPOINT_URL, AWS_*)."""
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        # S3-compatible endpoints (moto, MinIO) are addressed by path.
        s3={"addressing_style": "path"},
    )
    return boto3.client("s3", config=config)


class Storage:
    """The few S3 operations the project needs, with errors mapped to ours."""

    def __init__(self, client: Any | None = None, *, sse: str = "", sse_kms_key_id: str = "") -> None:
        self._client = client or make_client()
        # Every object written (outputs, references, chunks, plans) carries the same encryption.
        self._write_args: dict[str, str] = {}
        if sse:
            self._write_args["ServerSideEncryption"] = sse
        if sse == "aws:kms" and sse_kms_key_id:
            self._write_args["SSEKMSKeyId"] = sse_kms_key_id

    @classmethod
    def from_settings(cls, settings: Any) -> Storage:
        return cls(sse=settings.s3_sse, sse_kms_key_id=settings.s3_sse_kms_key_id)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            with errors_mapped(bucket, key):
                self._client.head_object(Bucket=bucket, Key=key)
            return True
        except Missing:
            return False

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            with errors_mapped(bucket, key):
                # read() inside: a reset mid-body is as transient as one before the headers
                return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except Missing:
            return None

    def get_file(self, bucket: str, key: str, path: str) -> bool:
        """Download a large object to `path` in a stream (never whole in memory); False when there is no such
        object."""
        try:
            with errors_mapped(bucket, key), open(path, "wb") as file:
                body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
                for block in body.iter_chunks(1 << 20):
                    file.write(block)
            return True
        except Missing:
            return False

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        # One PUT is atomic: readers see the whole object or none at all.
        self._call("put_object", bucket=bucket, key=key, Body=data, ContentType=content_type, **self._write_args)

    def put_file(self, bucket: str, key: str, path: str, *, content_type: str) -> None:
        """Upload a large file from disk (multipart as needed); the object appears only when complete."""
        try:
            with errors_mapped(bucket, key):
                self._client.upload_file(
                    path, bucket, key, ExtraArgs={"ContentType": content_type, **self._write_args}, Config=_UPLOADS
                )
        except boto3.exceptions.S3UploadFailedError as exc:
            raise unreachable(exc) from exc

    def size(self, bucket: str, key: str) -> int | None:
        """The object's length in bytes, or None when there is no such object."""
        try:
            with errors_mapped(bucket, key):
                return int(self._client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except Missing:
            return None

    def compose(self, bucket: str, key: str, pieces: list[Piece], *, content_type: str, scratch: Path) -> None:
        """One object from local files and ranges of objects in `bucket`; copied ranges stay on the S3 side.

        Multipart: the object appears only when every part is in, and a failed
        attempt is aborted, leaving nothing behind. `scratch` is a folder for the
        parts sent from here.
        """
        compose_object(
            self._client,
            bucket,
            key,
            pieces,
            content_type=content_type,
            scratch=scratch,
            write_args=self._write_args,
        )

    def list(self, bucket: str, prefix: str, *, start_after: str = "", limit: int = 1000) -> list[tuple[str, int]]:
        """(key, size) of up to `limit` objects under `prefix`, in key order, after `start_after`: one page."""
        return [(key, size) for key, size, _ in self.list_tagged(bucket, prefix, start_after=start_after, limit=limit)]

    def walk(self, bucket: str, prefix: str, *, page: int = 1000) -> Iterator[tuple[str, int, float]]:
        """(key, size, last modified as a Unix time) of every object under `prefix`, `page` objects a request."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page}
        )
        with errors_mapped(bucket, prefix):
            for answer in pages:
                yield from (
                    (o["Key"], int(o["Size"]), o["LastModified"].timestamp()) for o in answer.get("Contents", [])
                )

    def open_uploads(self, bucket: str, prefix: str, *, page: int = 1000) -> Iterator[tuple[str, str, float]]:
        """(key, upload id, started as a Unix time) of every multipart upload under `prefix` neither completed nor
        aborted."""
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page}
        )
        with errors_mapped(bucket, prefix):
            for answer in pages:
                yield from ((u["Key"], u["UploadId"], u["Initiated"].timestamp()) for u in answer.get("Uploads", []))

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop a multipart upload and the parts it holds (billed as storage until then); one already gone is no
        error."""
        try:
            self._call("abort_multipart_upload", bucket=bucket, key=key, UploadId=upload_id)
        except StorageRejected as exc:
            if not isinstance(exc.__cause__, Missing) and "NoSuchUpload" not in str(exc):
                raise

    def copy(self, bucket: str, source: str, target: str) -> None:
        """A server-side copy of any size: CopyObject stops at 5 GB, so S3 copies a large object in 8 MB parts
        (UploadPartCopy)."""
        self._call(
            "copy",
            bucket=bucket,
            key=target,
            CopySource={"Bucket": bucket, "Key": source},
            ExtraArgs=self._write_args or None,
            Config=_UPLOADS,
        )

    def delete(self, bucket: str, key: str) -> None:
        self._call("delete_object", bucket=bucket, key=key)

    def delete_many(self, bucket: str, keys: list[str]) -> None:
        """Delete these objects, up to 1,000 a request; a key with no object is no error."""
        for start in range(0, len(keys), 1000):
            batch = keys[start : start + 1000]
            with errors_mapped(bucket, batch[0]):
                answer = self._client.delete_objects(
                    Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
                )
            if answer.get("Errors"):
                first = answer["Errors"][0]
                raise StorageUnavailable(
                    f"S3 kept {len(answer['Errors'])} of {len(batch)} objects in s3://{bucket} "
                    f"(s3://{bucket}/{first.get('Key')}: {first.get('Code')}); will retry"
                )

    def check_bucket(self, bucket: str) -> None:
        """Raise StorageRejected when the bucket is missing or not ours to use."""
        try:
            with errors_mapped(bucket, ""):
                self._client.head_bucket(Bucket=bucket)
        except Missing as exc:
            raise StorageRejected(f"S3 bucket {bucket!r} does not exist: create it or fix --out") from exc
        except StorageRejected as exc:
            if "does not exist" in str(exc):
                raise StorageRejected(f"S3 bucket {bucket!r} does not exist: create it or fix --out") from exc
            raise

    def create_bucket(self, bucket: str) -> None:
        try:
            self._client.create_bucket(Bucket=bucket)
        except self._client.exceptions.BucketAlreadyOwnedByYou:
            pass

    def _call(self, operation: str, *, bucket: str, key: str, **params: Any) -> Any:
        try:
            with errors_mapped(bucket, key):
                return getattr(self._client, operation)(Bucket=bucket, Key=key, **params)
        except Missing as exc:
            raise StorageRejected(f"S3 has no s3://{bucket}/{key}") from exc

    def list_tagged(
        self, bucket: str, prefix: str, *, start_after: str = "", limit: int = 1000
    ) -> list[tuple[str, int, str]]:
        """(key, size, ETag) of one page, as `list`: the ETag tells a new upload from one already looked at, without
        downloading it."""
        with errors_mapped(bucket, prefix):
            answer = self._client.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=start_after, MaxKeys=limit)
        return [
            (item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"'))
            for item in answer.get("Contents", [])
        ]
