"""One S3 object put together from a multipart plan (worker.storage.multipart): each part copied on the S3 side or
sent from here, four at a time.

The object appears only when every part is in; a failed attempt is aborted, leaving nothing behind.
"""

from __future__ import annotations

import contextlib
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, BinaryIO

import botocore.exceptions

from worker.errors import StorageRejected, StorageUnavailable
from worker.storage.multipart import Copy, Local, Part, Piece, Upload, plan_parts
from worker.storage.s3_errors import Missing, error_code, errors_mapped

_COMPOSE_WORKERS = 4  # parts of a composed object in flight at once


def compose_object(
    client: Any,
    bucket: str,
    key: str,
    pieces: list[Piece],
    *,
    content_type: str,
    scratch: Path,
    write_args: dict[str, str],
) -> None:
    """One object from local files and ranges of objects in `bucket`; `scratch`: a folder for the parts sent from
    here, `write_args`: what every object written carries (its encryption)."""
    parts = plan_parts(pieces)
    with errors_mapped(bucket, key):
        upload = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type, **write_args)[
            "UploadId"
        ]
    try:
        with ThreadPoolExecutor(max_workers=_COMPOSE_WORKERS, thread_name_prefix="narrate-compose") as pool:
            done = list(
                pool.map(
                    lambda numbered: _part(client, bucket, key, upload, *numbered, scratch=scratch),
                    enumerate(parts, 1),
                )
            )
        with errors_mapped(bucket, key):
            client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done})
    except BaseException as exc:
        with contextlib.suppress(Exception):
            client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload)
        if isinstance(exc, Missing):
            raise StorageUnavailable(
                f"an object s3://{bucket}/{key} is made of went missing while it was put together; will retry"
            ) from exc
        raise


def _part(client: Any, bucket: str, key: str, upload: str, number: int, part: Part, *, scratch: Path) -> dict[str, Any]:
    where = {"Bucket": bucket, "Key": key, "UploadId": upload, "PartNumber": number}
    answer = _copied_part(client, where, part) if isinstance(part, Copy) else None
    if answer is None:
        pieces = part.pieces if isinstance(part, Upload) else (part.source,)
        body = scratch / f"part-{number:05d}"
        try:
            with body.open("wb") as out:
                for piece in pieces:
                    _fetch(client, bucket, piece, out)
            with errors_mapped(bucket, key), body.open("rb") as data:
                answer = client.upload_part(**where, Body=data, ContentLength=part.size)
        finally:
            body.unlink(missing_ok=True)
    # The checksums S3 computed for the part go back with it, as multipart uploads with checksums require.
    return {
        "PartNumber": number,
        "ETag": answer["ETag"],
        **{name: value for name, value in answer.items() if name.startswith("Checksum")},
    }


def _copied_part(client: Any, where: dict[str, Any], part: Copy) -> dict[str, Any] | None:
    """S3 copies the part; None where the store has no part copies (it is then sent from here)."""
    source, bucket = part.source, where["Bucket"]
    try:
        with errors_mapped(bucket, source.key):
            return client.upload_part_copy(
                **where,
                CopySource={"Bucket": bucket, "Key": source.key},
                CopySourceRange=f"bytes={source.start}-{source.end - 1}",
            )["CopyPartResult"]
    except (StorageRejected, StorageUnavailable) as exc:
        cause = exc.__cause__
        if not isinstance(cause, botocore.exceptions.ClientError) or error_code(cause) != "NotImplemented":
            raise
        return None


def _fetch(client: Any, bucket: str, piece: Piece, out: BinaryIO) -> None:
    if isinstance(piece, Local):
        with piece.path.open("rb") as source:
            shutil.copyfileobj(source, out, 1 << 20)
        return
    with errors_mapped(bucket, piece.key):
        body = client.get_object(Bucket=bucket, Key=piece.key, Range=f"bytes={piece.start}-{piece.end - 1}")["Body"]
        for block in body.iter_chunks(1 << 20):
            out.write(block)
