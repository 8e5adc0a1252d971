"""A job's lexicons, fetched from S3 by content hash and parsed once per worker process."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from worker import keys
from worker.contract import LexiconRef
from worker.errors import PermanentError
from worker.storage import Storage
from worker.text.lexicon import Lexicon
from worker.text.lexicon_files import read_lexicon

_PARSED: OrderedDict[str, Lexicon] = OrderedDict()  # by sha256: a lexicon's bytes never change under its key
_PARSED_MAX = 64
_LOCK = threading.Lock()


def job_lexicon(refs: list[LexiconRef], *, bucket: str, storage: Storage) -> Lexicon:
    """The job's lexicons as one, in order (a later file's entry wins)."""
    return Lexicon.combine([_one(ref, bucket=ref.bucket or bucket, storage=storage) for ref in refs])


def _one(ref: LexiconRef, *, bucket: str, storage: Storage) -> Lexicon:
    with _LOCK:
        if ref.sha256 in _PARSED:
            _PARSED.move_to_end(ref.sha256)
            return _PARSED[ref.sha256]
    where = keys.s3_url(bucket, ref.key)
    data = storage.get(bucket, ref.key)
    if data is None:
        raise PermanentError(f"lexicon {ref.name} ({where}) is missing: submit the job again to upload it")
    if hashlib.sha256(data).hexdigest() != ref.sha256:
        raise PermanentError(f"lexicon {ref.name} ({where}) does not match its sha256: it was altered")
    lexicon = read_lexicon(data, name=ref.key.rsplit("/", 1)[-1])
    with _LOCK:
        _PARSED[ref.sha256] = lexicon
        while len(_PARSED) > _PARSED_MAX:
            _PARSED.popitem(last=False)
    return lexicon
