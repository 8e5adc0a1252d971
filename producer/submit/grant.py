"""What a submitter may touch: one policy object, checked at every door a reference comes through.

A grant says which S3 prefixes a submitter's batch files and sidecars may read
(`sources`), where its audio may be written (`outputs`), which named voices and
Fish voice ids it may use (`voices`), its budget per book, the webhook URLs it may
name, and whether it may name files on the submitting machine (`local_paths`).
`None` in a field means "no restriction": `Grant()` is what the CLI and the
Python API have always allowed. Pipelines build a narrow grant per pipeline; an
HTTP API builds one per tenant key.

Prefixes are folders: `s3://books/inbox` admits `s3://books/inbox/a.md`, never
`s3://books/inbox-other/a.md`. A URL is checked as S3 will read it: no `..`,
`.` or empty segments, no percent-encoding, no query, so what is checked is what
is fetched.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from worker.contract import check_bucket, check_prefix
from worker.errors import BadInput


class Refused(BadInput):
    """A reference outside the submitter's grant: nothing of it was read, written or used."""

    def __init__(self, message: str, reference: str = "") -> None:
        super().__init__(message)
        self.reference = reference  # what was refused, as it was named

    def __reduce__(self) -> tuple[type[Refused], tuple[str, str]]:
        return (Refused, (str(self), self.reference))


class Grant(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    sources: tuple[str, ...] | None = None  # S3 folders readable; None: any the credentials reach
    outputs: tuple[str, ...] | None = None  # S3 folders writable; None: any
    voices: frozenset[str] | None = None  # named voices and Fish voice ids usable; None: any
    budget_usd: float | None = None  # the most one book may be estimated at; None: no cap
    notify: tuple[str, ...] | None = None  # webhook URL prefixes allowed; () none; None: any
    local_paths: bool = True  # files on the submitting machine may be named

    @field_validator("sources", "outputs", mode="before")
    @classmethod
    def _folders(cls, value: object) -> object:
        if value is None:
            return None
        urls = [value] if isinstance(value, str) else list(value)  # type: ignore[call-overload]
        return tuple(folder(url) for url in urls)

    @classmethod
    def unrestricted(cls) -> Grant:
        return cls()

    @classmethod
    def for_sources(cls, sources: list[str] | None) -> Grant:
        """`narrate submit --sources`: batch files read only under those folders, never local files.

        None given: no bound.
        """
        if not sources:
            return cls()
        try:
            return cls(sources=tuple(sources), local_paths=False)
        except ValidationError as exc:
            raise BadInput(f"--sources: {str(exc.errors()[0]['msg']).removeprefix('Value error, ')}") from None

    @property
    def restricted(self) -> bool:
        return self != Grant()

    def check_read(self, url: str, *, where: str) -> str:
        """`url` (s3://bucket/key) if the grant may read it; Refused naming it and why otherwise."""
        if not url.startswith("s3://"):
            return self.check_local(url, where=where)
        if self.sources is None:
            return url
        checked = _canonical(url, where=where)
        if not _under(checked, self.sources):
            raise Refused(
                f"{where}: {url} is outside what this submitter may read ({_listed(self.sources)});"
                " put the file under one of those, or ask the operator to add its folder to `sources`",
                url,
            )
        return checked

    def check_write(self, url: str, *, where: str) -> str:
        if self.outputs is None:
            return url
        checked = _canonical(url, where=where)
        if not _under(checked if checked.endswith("/") else checked + "/", self.outputs):
            raise Refused(
                f"{where}: {url} is outside where this submitter may write ({_listed(self.outputs)});"
                " write under one of those, or ask the operator to add the folder to `outputs`",
                url,
            )
        return checked

    def check_local(self, path: str, *, where: str) -> str:
        """A path on this machine, if the grant admits any; the message says nothing about whether it exists."""
        if not self.local_paths:
            raise Refused(
                f"{where}: {str(path)[:200]!r} is a local path, and files on this machine are never read for"
                " this submitter; name an s3:// URL instead",
                str(path)[:200],
            )
        return path

    def check_voice(self, name_or_id: str, *, where: str) -> str:
        if self.voices is not None and name_or_id not in self.voices:
            allowed = ", ".join(sorted(self.voices)) or "none"
            raise Refused(
                f"{where}: the voice {name_or_id[:80]!r} is not one this submitter may use (allowed: {allowed});"
                " use one of those, or ask the operator to add it to `voices`",
                name_or_id[:80],
            )
        return name_or_id

    def check_budget(self, budget_usd: float | None, *, where: str) -> float | None:
        """The budget to apply: the grant's when none is asked; Refused when one is asked above it."""
        if self.budget_usd is None:
            return budget_usd
        if budget_usd is None:
            return self.budget_usd
        if budget_usd > self.budget_usd:
            raise Refused(
                f"{where}: a budget of ${budget_usd:.2f} is above this submitter's ${self.budget_usd:.2f};"
                " ask for at most that, or ask the operator to raise `budget`",
                f"budget {budget_usd:g}",
            )
        return budget_usd

    def check_notify(self, url: str, *, where: str) -> str:
        if self.notify is not None and not any(
            url == p or url.startswith(p if p.endswith("/") else p + "/") for p in self.notify
        ):
            allowed = ", ".join(self.notify) or "none"
            raise Refused(
                f"{where}: the webhook {_without_query(url)!r} is not one this submitter may call (allowed: {allowed});"
                " leave `notify` to the operator, or ask for its URL to be added to `notify_allowed`",
                _without_query(url),
            )
        return url

    def check_submission(self, *, out: str, voice: object, where: str) -> None:
        """What the Python API checks of every job and book: where it writes, and the voice it uses by name or Fish id.

        Clips the caller read and prepared itself are its own: only it knows where they came from.
        """
        self.check_write(out, where=f"{where}: out")
        name = voice if isinstance(voice, str) else getattr(voice, "name", None)  # a Fish voice id, or a named voice
        if isinstance(name, str):
            self.check_voice(name, where=f"{where}: voice")

    def describe(self) -> list[str]:
        """One line per boundary, for `narrate pipelines check`."""

        def shown(values: Iterable[str] | None) -> str:
            return "anything" if values is None else ", ".join(sorted(values)) or "nothing"

        return [
            f"reads: {shown(self.sources)}",
            f"writes: {shown(self.outputs)}",
            f"voices: {shown(self.voices)}",
            f"budget: {'no cap' if self.budget_usd is None else f'${self.budget_usd:.2f}'}",
            f"webhooks: {'any' if self.notify is None else ', '.join(self.notify) or 'none'}",
            f"local files: {'yes' if self.local_paths else 'never'}",
        ]


def folder(url: str) -> str:
    """`s3://bucket[/prefix]` as a folder URL ending in '/', or ValueError saying what is wrong."""
    bucket, prefix = _parts(url)
    return f"s3://{bucket}/{prefix}/" if prefix else f"s3://{bucket}/"


def _parts(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"{url!r} is not an S3 URL; write it as s3://bucket/prefix")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise ValueError(f"{url!r}: '?' and '#' have no place in an S3 URL")
    return check_bucket(parts.netloc), check_prefix(parts.path[1:])


def _canonical(url: str, *, where: str) -> str:
    try:
        bucket, key = _parts(url)
    except ValueError as exc:
        raise Refused(
            f"{where}: {str(url)[:200]!r} cannot be used ({exc}); name the object by its plain key", str(url)[:200]
        ) from None
    trailing = "/" if url.endswith("/") and key else ""
    return f"s3://{bucket}/{key}{trailing}"


def _under(url: str, folders: tuple[str, ...]) -> bool:
    return any(url.startswith(prefix) for prefix in folders)


def _listed(folders: tuple[str, ...]) -> str:
    return ", ".join(folders) if folders else "nothing"


def _without_query(url: str) -> str:
    return url.split("?", 1)[0][:200]
