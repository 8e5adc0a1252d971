"""What a batch file entry names, held to a grant and fetched: S3 objects become local copies, nothing outside is read.

An entry names files (`file`, `transcript_file`, `lexicon`, a `voice` clip),
voices (a `voice` name, a `voice_id`) and an output (`out`). Each is checked
against the submitter's grant before anything of it is fetched; S3 objects are
downloaded once each into a folder, and the entry is rewritten to name those
copies, so the batch file reader reads it as a local batch file. A local path is
taken only when the grant admits local files, and then only relative to the
batch file's own folder or absolute as written: a refusal never says whether a
file exists.
"""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from producer.submit.fetch import fetch_within
from producer.submit.grant import Grant, Refused
from producer.submit.jobs import parse_out
from worker.errors import BadInput
from worker.settings import get_settings
from worker.storage import Storage

PATH_FIELDS = ("file", "transcript_file")
TEXT_FIELDS = ("voice", "voice_id", "out", "file", "transcript_file")  # read as text (numbers too), so checked as text
MAX_NAME_BYTES = 200  # a key's last part kept for its local copy, under the usual 255-byte limit on a file name


class Fetched:
    """S3 objects a batch file names, checked against `grant` and downloaded once each into `folder`.

    `base`: the batch file's own folder, for local paths when the grant admits them;
    `inside`: an S3 folder a book may not lie in (an inbox, which renders its files on its own).
    """

    def __init__(
        self, storage: Storage, folder: Path, *, grant: Grant, base: Path | None = None, inside: str | None = None
    ) -> None:
        self._storage, self._folder, self._base, self._inside, self.grant = storage, folder, base, inside, grant
        self._local: dict[str, Path] = {}

    def local(self, url: str, *, where: str, book: bool = False, trusted: bool = False) -> str:
        """A local copy of `url`.

        `trusted`: named by the operator (a pipeline's own clip or lexicon), not by the batch file.
        """
        if not url.startswith("s3://"):
            if self._base is None:
                raise Refused(
                    f"{where}: {url[:200]!r} is not an S3 URL;"
                    " a batch file in a bucket names its files as s3://bucket/key,"
                    " never as paths on the machine that reads it",
                    url[:200],
                )
            return str(self._base / self.grant.check_local(url, where=where))
        if not trusted:
            url = self.grant.check_read(url, where=where)
        if book and self._inside and url.startswith(self._inside.rstrip("/") + "/"):
            raise BadInput(
                f"{where}: {url} lies inside the inbox {self._inside}, so it would also be rendered on its own;"
                " move it to a folder the inbox does not watch and name it there"
            )
        if url not in self._local:
            bucket, key = parse_out(url)
            data = fetch_within(self._storage, bucket, key, limit=get_settings().fetch_max_bytes)
            if data is None:
                raise BadInput(f"{where}: {url} does not exist; upload it or fix the URL")
            path = self._folder / str(len(self._local)) / local_name(key)
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
            self._local[url] = path
        return str(self._local[url])

    def is_local_clip(self, value: str) -> bool:
        return self._base is not None and self.grant.local_paths and (self._base / value).is_file()

    def named(self, message: str) -> str:
        """A message about a fetched file, naming its S3 URL rather than the temporary copy."""
        for url, path in self._local.items():
            message = message.replace(str(path), url)
        return message.replace(str(self._folder) + "/", "")


def localised(raw: dict[str, Any], where: str, *, fetch: Fetched) -> dict[str, Any]:
    """The entry with every reference checked against the grant and every S3 object replaced by its local copy."""
    grant = fetch.grant
    # a number is read as text where text is expected: checked as that text
    entry = {
        k: str(v) if k in TEXT_FIELDS and isinstance(v, (int, float)) and not isinstance(v, bool) else v
        for k, v in raw.items()
    }
    for field in PATH_FIELDS:
        if isinstance(entry.get(field), str):
            entry[field] = fetch.local(entry[field], where=f"{where}: `{field}`", book=field == "file")
    if "lexicon" in entry:
        own = entry["lexicon"]
        own = [own] if isinstance(own, str) else own if isinstance(own, list) else own
        if isinstance(own, list):
            entry["lexicon"] = [
                fetch.local(url, where=f"{where}: `lexicon`") if isinstance(url, str) else url for url in own
            ]
    voice = entry.get("voice")
    if isinstance(voice, str) and (voice.startswith("s3://") or fetch.is_local_clip(voice)):
        entry["voice"] = fetch.local(voice, where=f"{where}: `voice`")
    elif isinstance(voice, str):
        grant.check_voice(voice, where=f"{where}: `voice`")  # a registered voice's name, never a path on this machine
    if isinstance(entry.get("voice_id"), str):
        grant.check_voice(entry["voice_id"], where=f"{where}: `voice_id`")
    if isinstance(entry.get("out"), str):
        grant.check_write(entry["out"], where=f"{where}: `out`")
    return entry


def written(entries: list[tuple[int, Any]], *, jsonl: bool) -> str:
    """Entries as a batch file whose line (or entry) numbers are the original's: messages point at the right place."""
    if not jsonl:
        return yaml.safe_dump([entry for _, entry in entries], allow_unicode=True, sort_keys=False)
    lines = [""] * (max((number for number, _ in entries), default=0))
    for number, entry in entries:
        lines[number - 1] = json.dumps(entry, ensure_ascii=False)
    return "\n".join(lines) + "\n"


def local_name(key: str) -> str:
    """The key's last part, its stem shortened (on a character boundary) when the whole would not fit a file name."""
    name = PurePosixPath(key).name
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    path = PurePosixPath(name)
    suffix = path.suffix if len(path.suffix.encode()) <= 16 else ""
    room = MAX_NAME_BYTES - len(suffix.encode())
    return path.stem.encode()[:room].decode(errors="ignore") + suffix
