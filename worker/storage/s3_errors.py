"""botocore's errors as the project's: StorageUnavailable (transient: retry) or StorageRejected (permanent).

A missing object is `Missing` instead, which the callers that expect one turn into None or False.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import botocore.exceptions

from worker.errors import StorageRejected, StorageUnavailable

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
_NO_CREDENTIALS = (botocore.exceptions.NoCredentialsError, botocore.exceptions.PartialCredentialsError)
CREDENTIAL_CHAIN = (
    "boto3 found no usable AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY,"
    " or AWS_PROFILE with a shared credentials file, or give the host an IAM role"
    " (container or instance metadata); boto3 looks in that order"
)


class Missing(Exception):
    """No such object (404): the callers that expect this turn it into None or False."""


@contextlib.contextmanager
def errors_mapped(bucket: str, key: str) -> Iterator[None]:
    """Every botocore error as ours: Transient, Permanent, or Missing."""
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        if error_code(exc) in _MISSING:
            raise Missing() from exc
        raise _mapped(exc, bucket=bucket, key=key) from exc
    except botocore.exceptions.FlexibleChecksumError as exc:
        raise StorageUnavailable(
            f"s3://{bucket}/{key} arrived damaged (its checksum did not match); will retry"
        ) from exc
    except _NETWORK as exc:
        raise unreachable(exc) from exc
    except _NO_CREDENTIALS as exc:
        raise StorageRejected(CREDENTIAL_CHAIN) from exc


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _mapped(exc: botocore.exceptions.ClientError, *, bucket: str, key: str) -> Exception:
    code = error_code(exc)
    where = f"s3://{bucket}/{key}"
    if code in _PERMANENT:
        return StorageRejected(f"S3 refused {where}: {_PERMANENT[code]}")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    # ExpiredToken: boto3 refreshes temporary credentials by itself, so a retry can succeed
    if status >= 500 or code in ("SlowDown", "Throttling", "RequestTimeout", "InternalError", "ExpiredToken"):
        return StorageUnavailable(f"S3 is failing for {where} ({code or status}); will retry")
    return StorageRejected(f"S3 refused {where}: {code or status}")


def unreachable(exc: Exception) -> StorageUnavailable:
    return StorageUnavailable(f"S3 endpoint unreachable ({exc.__class__.__name__}); will retry")
