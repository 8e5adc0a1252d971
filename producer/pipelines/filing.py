"""Filing a source away: its copy and its report under `processed/` or `failed/`, then its removal from the inbox.

The source keeps its path below the inbox (`inbox/a/book.epub` goes to
`processed/<pipeline>/a/book.epub` beside `a/book.result.json`), so two files
of the same name in different folders never overwrite each other. Filing goes
as far as it can: a source deleted or renamed while it rendered still gets its
report, a copy S3 refuses is said in the report (and the source stays where it
is), and a path too long for S3 once moved is filed under a short name with
the original in its report. Only a transient error stops it, for the next run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from producer.submit.jobs import parse_out
from worker import keys
from worker.errors import StorageRejected
from worker.storage import Storage

MAX_KEY_BYTES = 1024  # S3's limit on a key


@dataclass
class Filed:
    copy: str | None  # where the source now is, if it was copied
    report: str | None  # where its report is, if it could be written
    notes: list[str] = field(default_factory=list)  # what could not be done, and why

    @property
    def moved(self) -> bool:
        """The source has left the inbox (or was already gone): it is not scanned again."""
        return self.copy is not None or any(note.startswith("the source was gone") for note in self.notes)


def filed_paths(inbox: str, pipeline: str, key: str, *, outcome: str) -> tuple[str, str, str]:
    """(bucket, the copy's key, the report's key) for a source under the inbox."""
    bucket, prefix = parse_out(inbox)
    folder = prefix if prefix.endswith("/") or not prefix else prefix + "/"
    parent = str(PurePosixPath(folder.rstrip("/")).parent).lstrip(".")
    base = "/".join(p for p in (parent, outcome, pipeline) if p)
    relative = PurePosixPath(key[len(folder) :] if key.startswith(folder) else PurePosixPath(key).name)
    suffix = "result" if outcome == "processed" else "error"
    copy, report = f"{base}/{relative}", f"{base}/{relative.with_name(relative.stem)}.{suffix}.json"
    if max(len(copy.encode()), len(report.encode())) > MAX_KEY_BYTES:  # shortened: its report names the original
        short = hashlib.sha256(str(relative).encode()).hexdigest()[:32]
        copy, report = f"{base}/long-names/{short}{relative.suffix[:16]}", f"{base}/long-names/{short}.{suffix}.json"
    return bucket, copy, report


def file_away(storage: Storage, *, inbox: str, pipeline: str, key: str, outcome: str, report: dict[str, Any]) -> Filed:
    """Copy the source and write its report, then delete it from the inbox, as far as each step can go."""
    bucket, copy, report_key = filed_paths(inbox, pipeline, key, outcome=outcome)
    filed = Filed(copy=None, report=None)
    try:
        storage.copy(bucket, key, copy)  # in parts when large: one CopyObject stops at 5 GB
        filed.copy = copy
    except StorageRejected as exc:
        if storage.exists(bucket, key):
            filed.notes.append(
                f"the source could not be copied to {keys.s3_url(bucket, copy)} and stays in the inbox: {exc}"
            )
        else:
            filed.notes.append(
                "the source was gone from the inbox (deleted or renamed while it rendered); its result stands"
            )
    body = {
        **report,
        "filed_at": time.time(),
        **({"filed_as": keys.s3_url(bucket, copy)} if filed.copy else {}),
        **({"notes": filed.notes} if filed.notes else {}),
    }
    try:
        storage.put(
            bucket, report_key, json.dumps(body, indent=2, default=str).encode(), content_type="application/json"
        )
        filed.report = report_key
    except StorageRejected as exc:
        filed.notes.append(f"the report could not be written to {keys.s3_url(bucket, report_key)}: {exc}")
    if filed.copy is not None:
        storage.delete(bucket, key)
    return filed
