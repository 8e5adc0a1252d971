"""S3 access: the only boto3 import. Errors come back as Transient or Permanent."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import boto3
import boto3.exceptions
import botocore.exceptions
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

from worker.errors import StorageRejected, StorageUnavailable
from worker.storage.multipart import Copy, Local, Part, Piece, Upload, plan_parts

_MISSING = {"404", "NoSuchKey", "NotFound"}
_PERMANENT = {
    "NoSuchBucket": "the bucket does not exist: create it, or send the job to an existing bucket",
    "AccessDenied": "access denied: check the AWS credentials and the bucket policy",
    "InvalidAccessKeyId": "the AWS access key is not valid",
    "SignatureDoesNotMatch": "the AWS secret key does not match the access key",
    "InvalidBucketName": "the bucket name is not valid",
    "403": "access denied: check the AWS credentials and the bucket policy",
}
# Transient by nature: connecting (refused, TLS, proxy, connect timeout) and reading
# (reset or timed out mid-body, fewer bytes than Content-Length, credentials endpoint slow).
_NETWORK = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.CredentialRetrievalError,
)
# A large file goes up in 8 MB parts, four at a time: about 40 MB of buffers (boto3's default of ten took 100 MB).
_UPLOADS = TransferConfig(multipart_chunksize=8 * 1024 * 1024, max_concurrency=4)
_COMPOSE_WORKERS = 4  # parts of a composed object in flight at once
_NO_CREDENTIALS = (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)
CREDENTIAL_CHAIN = (
    "boto3 found no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,"
    " or AWS_PROFILE with a shared credentials file, or give the host an IAM role"
    " (container or instance metadata); boto3 looks in that order"
)


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
            with _errors_mapped(bucket, key):
                self._client.head_object(Bucket=bucket, Key=key)
            return True
        except _Missing:
            return False

    def get(self, bucket: str, key: str) -> bytes | None:
        """The object's bytes, or None when there is no such object."""
        try:
            with _errors_mapped(bucket, key):
                # read() inside: a reset mid-body is as transient as one before the headers
                return self._client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except _Missing:
            return None

    def get_file(self, bucket: str, key: str, path: str) -> bool:
        """Download a large object to `path` in a stream (never whole in memory); False when there is no such object."""
        try:
            with _errors_mapped(bucket, key), open(path, "wb") as file:
                body = self._client.get_object(Bucket=bucket, Key=key)["Body"]
                for block in body.iter_chunks(1 << 20):
                    file.write(block)
            return True
        except _Missing:
            return False

    def put(self, bucket: str, key: str, data: bytes, *, content_type: str) -> None:
        # One PUT is atomic: readers see the whole object or none at all.
        self._call("put_object", bucket=bucket, key=key, Body=data, ContentType=content_type, **self._write_args)

    def put_file(self, bucket: str, key: str, path: str, *, content_type: str) -> None:
        """Upload a large file from disk (multipart as needed); the object appears only when complete."""
        try:
            with _errors_mapped(bucket, key):
                self._client.upload_file(
                    path, bucket, key, ExtraArgs={"ContentType": content_type, **self._write_args}, Config=_UPLOADS
                )
        except boto3.exceptions.S3UploadFailedError as exc:
            raise _unreachable(exc) from exc

    def size(self, bucket: str, key: str) -> int | None:
        """The object's length in bytes, or None when there is no such object."""
        try:
            with _errors_mapped(bucket, key):
                return int(self._client.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except _Missing:
            return None

    def compose(self, bucket: str, key: str, pieces: list[Piece], *, content_type: str, scratch: Path) -> None:
        """One object from local files and ranges of objects in `bucket`; copied ranges stay on the S3 side.

        Multipart: the object appears only when every part is in, and a failed
        attempt is aborted, leaving nothing behind. `scratch` is a folder for the
        parts sent from here.
        """
        parts = plan_parts(pieces)
        with _errors_mapped(bucket, key):
            upload = self._client.create_multipart_upload(
                Bucket=bucket, Key=key, ContentType=content_type, **self._write_args
            )["UploadId"]
        try:
            with ThreadPoolExecutor(max_workers=_COMPOSE_WORKERS, thread_name_prefix="narrate-compose") as pool:
                done = list(
                    pool.map(
                        lambda numbered: self._part(bucket, key, upload, *numbered, scratch=scratch),
                        enumerate(parts, 1),
                    )
                )
            with _errors_mapped(bucket, key):
                self._client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
                )
        except BaseException as exc:
            with contextlib.suppress(Exception):
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
            if isinstance(exc, _Missing):
                raise StorageUnavailable(
                    f"an object s3://{bucket}/{key} is made of went missing while it was put together; will retry"
                ) from exc
            raise

    def _part(self, bucket: str, key: str, upload: str, number: int, part: Part, *, scratch: Path) -> dict[str, Any]:
        where = {"Bucket": bucket, "Key": key, "UploadId": upload, "PartNumber": number}
        answer = self._copied_part(where, part) if isinstance(part, Copy) else None
        if answer is None:
            pieces = part.pieces if isinstance(part, Upload) else (part.source,)
            body = scratch / f"part-{number:05d}"
            try:
                with body.open("wb") as out:
                    for piece in pieces:
                        self._fetch(bucket, piece, out)
                with _errors_mapped(bucket, key), body.open("rb") as data:
                    answer = self._client.upload_part(**where, Body=data, ContentLength=part.size)
            finally:
                body.unlink(missing_ok=True)
        # The checksums S3 computed for the part go back with it, as multipart uploads with checksums require.
        return {
            "PartNumber": number,
            "ETag": answer["ETag"],
            **{name: value for name, value in answer.items() if name.startswith("Checksum")},
        }

    def _copied_part(self, where: dict[str, Any], part: Copy) -> dict[str, Any] | None:
        """S3 copies the part; None where the store has no part copies (it is then sent from here)."""
        source, bucket = part.source, where["Bucket"]
        try:
            with _errors_mapped(bucket, source.key):
                return self._client.upload_part_copy(
                    **where,
                    CopySource={"Bucket": bucket, "Key": source.key},
                    CopySourceRange=f"bytes={source.start}-{source.end - 1}",
                )["CopyPartResult"]
        except (StorageRejected, StorageUnavailable) as exc:
            if (
                not isinstance(exc.__cause__, botocore.exceptions.ClientError)
                or _code(exc.__cause__) != "NotImplemented"
            ):
                raise
            return None

    def _fetch(self, bucket: str, piece: Piece, out: BinaryIO) -> None:
        if isinstance(piece, Local):
            with piece.path.open("rb") as source:
                shutil.copyfileobj(source, out, 1 << 20)
            return
        with _errors_mapped(bucket, piece.key):
            body = self._client.get_object(Bucket=bucket, Key=piece.key, Range=f"bytes={piece.start}-{piece.end - 1}")[
                "Body"
            ]
            for block in body.iter_chunks(1 << 20):
                out.write(block)

    def list(self, bucket: str, prefix: str, *, start_after: str = "", limit: int = 1000) -> list[tuple[str, int]]:
        """(key, size) of up to `limit` objects under `prefix`, in key order, after `start_after`: one page."""
        return [(key, size) for key, size, _ in self.list_tagged(bucket, prefix, start_after=start_after, limit=limit)]

    def walk(self, bucket: str, prefix: str, *, page: int = 1000) -> Iterator[tuple[str, int, float]]:
        """(key, size, last modified as a Unix time) of every object under `prefix`, `page` objects a request."""
        pages = self._client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page}
        )
        with _errors_mapped(bucket, prefix):
            for answer in pages:
                yield from (
                    (o["Key"], int(o["Size"]), o["LastModified"].timestamp()) for o in answer.get("Contents", [])
                )

    def open_uploads(self, bucket: str, prefix: str, *, page: int = 1000) -> Iterator[tuple[str, str, float]]:
        """(key, upload id, started as a Unix time) of every multipart upload under `prefix` neither completed nor aborted."""
        pages = self._client.get_paginator("list_multipart_uploads").paginate(
            Bucket=bucket, Prefix=prefix, PaginationConfig={"PageSize": page}
        )
        with _errors_mapped(bucket, prefix):
            for answer in pages:
                yield from ((u["Key"], u["UploadId"], u["Initiated"].timestamp()) for u in answer.get("Uploads", []))

    def abort_upload(self, bucket: str, key: str, upload_id: str) -> None:
        """Drop a multipart upload and the parts it holds (billed as storage until then); one already gone is no error."""
        try:
            self._call("abort_multipart_upload", bucket=bucket, key=key, UploadId=upload_id)
        except StorageRejected as exc:
            if not isinstance(exc.__cause__, _Missing) and "NoSuchUpload" not in str(exc):
                raise

    def copy(self, bucket: str, source: str, target: str) -> None:
        """A server-side copy of any size: CopyObject stops at 5 GB, so S3 copies a large object in 8 MB parts (UploadPartCopy)."""
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
            with _errors_mapped(bucket, batch[0]):
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
            with _errors_mapped(bucket, ""):
                self._client.head_bucket(Bucket=bucket)
        except _Missing as exc:
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
            with _errors_mapped(bucket, key):
                return getattr(self._client, operation)(Bucket=bucket, Key=key, **params)
        except _Missing as exc:
            raise StorageRejected(f"S3 has no s3://{bucket}/{key}") from exc

    def list_tagged(
        self, bucket: str, prefix: str, *, start_after: str = "", limit: int = 1000
    ) -> list[tuple[str, int, str]]:
        """(key, size, ETag) of one page, as `list`: the ETag tells a new upload from one already looked at, without downloading it."""
        with _errors_mapped(bucket, prefix):
            answer = self._client.list_objects_v2(Bucket=bucket, Prefix=prefix, StartAfter=start_after, MaxKeys=limit)
        return [
            (item["Key"], int(item["Size"]), str(item.get("ETag", "")).strip('"'))
            for item in answer.get("Contents", [])
        ]


class _Missing(Exception):
    """No such object (404): the callers that expect this turn it into None or False."""


@contextlib.contextmanager
def _errors_mapped(bucket: str, key: str) -> Iterator[None]:
    """Every botocore error as ours: Transient, Permanent, or _Missing."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        if _code(exc) in _MISSING:
            raise _Missing() from exc
        raise _mapped(exc, bucket=bucket, key=key) from exc
    except botocore.exceptions.FlexibleChecksumError as exc:
        raise StorageUnavailable(
            f"s3://{bucket}/{key} arrived damaged (its checksum did not match); will retry"
        ) from exc
    except _NETWORK as exc:
        raise _unreachable(exc) from exc
    except _NO_CREDENTIALS as exc:
        raise StorageRejected(CREDENTIAL_CHAIN) from exc


def _code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _mapped(exc: botocore.exceptions.ClientError, *, bucket: str, key: str) -> Exception:
    code = _code(exc)
    where = f"s3://{bucket}/{key}"
    if code in _PERMANENT:
        return StorageRejected(f"S3 refused {where}: {_PERMANENT[code]}")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    # ExpiredToken: boto3 refreshes temporary credentials by itself, so a retry can succeed
    if status >= 500 or code in ("SlowDown", "Throttling", "RequestTimeout", "InternalError", "ExpiredToken"):
        return StorageUnavailable(f"S3 is failing for {where} ({code or status}); will retry")
    return StorageRejected(f"S3 refused {where}: {code or status}")


def _unreachable(exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"S3 endpoint unreachable ({exc.__class__.__name__}); will retry")
