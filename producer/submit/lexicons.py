"""Lexicon files as jobs and books carry them: read and checked before anything is sent, uploaded once by content hash.

lexicons = read_lexicon_files(["names.yaml", "places.pls"])
lexicons.lexicon.apply(text)           # what the planner does before chunking
lexicons.upload(storage, "my-bucket")  # lexicons/<sha256>.<ext>, skipped when already there
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from producer.submit.clips import NamedVoice
from worker import keys
from worker.contract import LexiconRef
from worker.errors import BadInput
from worker.storage import Storage
from worker.text.lexicon import Lexicon
from worker.text.lexicon_files import lexicon_kind, read_lexicon


@dataclass(frozen=True)
class LexiconFile:
    name: str
    sha256: str
    extension: str
    data: bytes
    bucket: str | None = None  # None: uploaded to the output bucket; else stored there already (a named voice's)

    @property
    def key(self) -> str:
        return keys.lexicon(self.sha256, self.extension)

    def ref(self) -> LexiconRef:
        return LexiconRef(bucket=self.bucket, key=self.key, sha256=self.sha256, name=self.name[-200:])


def lexicon_file(data: bytes, *, name: str, bucket: str | None = None) -> LexiconFile:
    """Checked now: a malformed lexicon is refused by line before anything is uploaded or sent."""
    lexicon_kind(name)
    read_lexicon(data, name=name)
    extension = name.rsplit(".", 1)[-1].lower()
    return LexiconFile(
        name=name, sha256=hashlib.sha256(data).hexdigest(), extension=extension, data=data, bucket=bucket
    )


@dataclass(frozen=True)
class Lexicons:
    """The lexicon files of one job or book, in the order they apply (a later file's entry wins)."""

    files: tuple[LexiconFile, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.files)

    def __add__(self, other: Lexicons) -> Lexicons:
        seen = {f.sha256 for f in self.files}
        return Lexicons(self.files + tuple(f for f in other.files if f.sha256 not in seen))

    @cached_property
    def lexicon(self) -> Lexicon:
        return Lexicon.combine([read_lexicon(f.data, name=f.name) for f in self.files])

    def refs(self) -> list[LexiconRef]:
        return [f.ref() for f in self.files]

    def upload(self, storage: Storage, bucket: str) -> None:
        for file in self.files:
            if file.bucket is None and not storage.exists(bucket, file.key):
                storage.put(bucket, file.key, file.data, content_type=_CONTENT_TYPES.get(file.extension, "text/plain"))


_CONTENT_TYPES = {
    "pls": "application/pls+xml",
    "xml": "application/pls+xml",
    "yaml": "application/yaml",
    "yml": "application/yaml",
    "csv": "text/csv",
}


def read_lexicon_files(paths: list[str] | list[Path] | None, *, where: str = "--lexicon") -> Lexicons:
    files = []
    for path in paths or []:
        file = Path(path)
        if not file.is_file():
            problem = "is a directory, not a file" if file.is_dir() else "no such file"
            raise BadInput(f"{where} {path}: {problem}; pass a .pls, .yaml or .csv lexicon")
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise BadInput(f"{where} {path}: cannot be read ({exc.strerror}); check its permissions") from exc
        files.append(_checked(data, name=file.name, where=None if where == "--lexicon" else where))
    return Lexicons(tuple(files))


def stored_lexicons(storage: Storage, refs: list[LexiconRef], *, where: str) -> Lexicons:
    """A named voice's lexicons, fetched from where `narrate voices update --lexicon` put them."""
    files = []
    for ref in refs:
        data = storage.get(ref.bucket or "", ref.key)
        if data is None or hashlib.sha256(data).hexdigest() != ref.sha256:
            raise BadInput(
                f"{where}: its lexicon {ref.name} ({keys.s3_url(ref.bucket or '', ref.key)}) is missing or altered:"
                f" attach it again with `narrate voices update NAME --lexicon FILE`"
            )
        files.append(
            LexiconFile(
                name=ref.name, sha256=ref.sha256, extension=ref.key.rsplit(".", 1)[-1], data=data, bucket=ref.bucket
            )
        )
    return Lexicons(tuple(files))


def with_voice_lexicons(storage: Storage, voice: object, lexicons: Lexicons) -> Lexicons:
    """A named voice's own lexicons first, then the ones given for this job or book (whose entries win)."""
    if isinstance(voice, NamedVoice) and voice.lexicons:
        return stored_lexicons(storage, list(voice.lexicons), where=f"voice {voice.name}") + lexicons
    return lexicons


def fetched_lexicons(storage: Storage, urls: list[str], *, where: str) -> Lexicons:
    """Lexicons named by S3 URL (a pipeline's), read and checked like local files, uploaded beside the outputs."""
    files = []
    for url in urls:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        data = storage.get(bucket, key)
        if data is None:
            raise BadInput(f"{where}: {url} does not exist; upload it or fix the URL")
        files.append(_checked(data, name=key.rsplit("/", 1)[-1], where=where))
    return Lexicons(tuple(files))


def _checked(data: bytes, *, name: str, where: str | None) -> LexiconFile:
    try:
        return lexicon_file(data, name=name)
    except BadInput as exc:
        raise BadInput(f"{where}: {exc}" if where else str(exc)) from None
