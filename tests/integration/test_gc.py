"""`narrate gc`: what a bucket keeps for nothing is found and deleted; nothing a live book needs ever is (real Redis,
S3 API)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from worker import keys
from worker.books import gc
from worker.books.plan import BookPlan, PlanChapter, PlanChunk
from worker.books.state import BookState
from worker.contract import ModelVoice, Output
from worker.storage import Storage

DAYS = 86400.0


def chunk_key(name: str) -> str:
    return keys.chunk_audio(hashlib.sha256(name.encode()).hexdigest())


class Bucket:
    """Books in Redis and their objects in S3, as submission and workers leave them."""

    def __init__(self, storage: Storage, state: BookState, name: str) -> None:
        self.storage, self.state, self.name = storage, state, name

    def chunk(self, name: str) -> str:
        key = chunk_key(name)
        self.storage.put(self.name, key, b"RIFF" + name.encode(), content_type="audio/wav")
        return key

    def book(
        self,
        *chunks: str,
        state: str | None = "rendering",
        prefix: str = "books",
        plan: bool = True,
        parts: bool = False,
    ) -> str:
        """A book using these chunks (their keys); `state` None: no record in Redis (expired, or being submitted)."""
        book_id = uuid.uuid4().hex
        pieces = [PlanChunk(index=i, text=f"Chunk {i}.", key=c, paragraph_start=True) for i, c in enumerate(chunks)]
        made = BookPlan(
            book_id=book_id,
            title="T",
            voice=ModelVoice(reference_id="m1"),
            output=Output(bucket=self.name, prefix=prefix),
            fish_model="s2-pro",
            submitted_at=datetime.now(UTC),
            chapters=[PlanChapter(index=0, title="One", chunks=pieces)],
        )
        if plan:
            self.storage.put(
                self.name,
                keys.book_plan(prefix, book_id),
                made.model_dump_json().encode(),
                content_type="application/json",
            )
        if state is not None:
            self.state.create(made, cached=0, estimated_cost_usd=0.0, notify_url=None)
            if state in gc.FINAL_STATES:
                self.state.finish(book_id, state=state, error="")
        if parts:
            for extension in ("aac", "npz"):
                self.storage.put(
                    self.name,
                    keys.book_part(prefix, book_id, 0, extension),
                    b"part",
                    content_type="application/octet-stream",
                )
        return book_id

    def keys(self) -> set[str]:
        return {key for key, _, _ in self.storage.walk(self.name, "")}


@pytest.fixture
def books(bucket: str, redis_client: redis.Redis) -> Bucket:
    return Bucket(Storage(), BookState(redis_client), bucket)


def part_keys(book_id: str, prefix: str = "books") -> set[str]:
    return {keys.book_part(prefix, book_id, 0, extension) for extension in ("aac", "npz")}


def test_only_chunks_no_live_book_uses_and_parts_of_ended_books_go(books: Bucket) -> None:
    rendering = books.book(books.chunk("rendering"), parts=True)
    failed = books.book(books.chunk("failed"), state="failed", parts=True)  # may be retried: its chunks stay
    succeeded = books.book(books.chunk("succeeded"), state="succeeded", parts=True)
    forgotten = books.book(
        books.chunk("forgotten"), state=None, plan=False, parts=True
    )  # record expired, plan as old as its chunks
    shared = books.book(books.chunk("shared"), state="succeeded")
    books.book(chunk_key("shared"), prefix="other")  # another book, still rendering, uses the same chunk
    submitting = books.book(books.chunk("submitting"), state=None)  # its plan is in S3, its record not yet in Redis
    books.chunk("orphan")
    now = time.time() + 1

    young = gc.find(books.storage, books.state, bucket=books.name, older_than_days=30, now=now)
    assert young.chunks == [] and young.kept["chunks_recent"] == 3, "chunks younger than D days stay, used or not"

    found = gc.find(books.storage, books.state, bucket=books.name, older_than_days=0, now=now)
    assert {c.key for c in found.chunks} == {chunk_key("succeeded"), chunk_key("forgotten"), chunk_key("orphan")}
    assert found.kept["chunks_referenced"] == 4  # rendering, failed, shared, submitting
    assert {p.key for p in found.parts} == part_keys(failed) | part_keys(succeeded) | part_keys(forgotten)
    assert found.kept["parts_of_live_books"] == 2
    assert found.notes == [] and found.uploads == []
    before = books.keys()
    assert before >= {c.key for c in found.chunks}, "a dry run deletes nothing"

    gc.collect(books.storage, books.state, found)
    assert before - books.keys() == {c.key for c in found.chunks} | {p.key for p in found.parts}
    assert part_keys(rendering) <= books.keys()
    assert {chunk_key(n) for n in ("rendering", "failed", "shared", "submitting")} <= books.keys()
    assert shared and submitting  # named for the reader: their chunks are among those kept


def test_a_book_submitted_between_find_and_delete_keeps_its_chunks(books: Bucket) -> None:
    old = books.chunk("old")
    found = gc.find(books.storage, books.state, bucket=books.name, older_than_days=0, now=time.time() + 1)
    assert [c.key for c in found.chunks] == [old]
    books.book(old)  # a new book reuses the chunk gc was about to delete
    gc.collect(books.storage, books.state, found)
    assert old in books.keys() and found.chunks == [] and found.kept["chunks_referenced"] == 1


def test_a_live_book_whose_plan_cannot_be_read_holds_every_chunk(books: Bucket) -> None:
    blind = books.book(books.chunk("needed"), plan=False)
    books.chunk("orphan")
    failed = books.book(books.chunk("failed"), state="failed", plan=False)
    found = gc.find(books.storage, books.state, bucket=books.name, older_than_days=0, now=time.time() + 1)
    assert found.chunks == []
    assert any(blind in note and "is queued" in note for note in found.notes)
    assert any(failed in note and "cannot be retried" in note for note in found.notes)
    gc.collect(books.storage, books.state, found)
    assert {chunk_key("needed"), chunk_key("orphan")} <= books.keys()


def test_uploads_left_open_for_a_day_are_aborted(books: Bucket) -> None:
    client = books.storage._client
    opened = client.create_multipart_upload(Bucket=books.name, Key="books/x/book.m4b")["UploadId"]
    # Ages count from the start S3 reports (the S3 endpoint of the tests reports one fixed date for every upload).
    ((_, _, started),) = books.storage.open_uploads(books.name, "")
    live = gc.find(books.storage, books.state, bucket=books.name, older_than_days=30, now=started + 0.5 * DAYS)
    assert live.uploads == [], "an upload under way for less than a day stays"
    found = gc.find(books.storage, books.state, bucket=books.name, older_than_days=30, now=started + 1.5 * DAYS)
    assert [(u.key, u.upload_id) for u in found.uploads] == [("books/x/book.m4b", opened)]
    elsewhere = gc.find(
        books.storage, books.state, bucket=books.name, prefix="elsewhere", older_than_days=30, now=started + 2 * DAYS
    )
    assert elsewhere.uploads == [], "the prefix limits uploads"
    gc.collect(books.storage, books.state, found)
    assert list(books.storage.open_uploads(books.name, "")) == []
    books.storage.abort_upload(books.name, "books/x/book.m4b", opened)  # already gone: no error


def test_listings_follow_every_page(books: Bucket) -> None:
    written = {books.chunk(f"c{i}") for i in range(5)}
    assert {key for key, _, _ in books.storage.walk(books.name, "chunks/", page=2)} == written
    client = books.storage._client
    uploads = {client.create_multipart_upload(Bucket=books.name, Key=f"k{i}")["UploadId"] for i in range(3)}
    assert {u[1] for u in books.storage.open_uploads(books.name, "", page=2)} == uploads


def test_a_prefix_limits_parts_not_chunks(books: Bucket) -> None:
    mine = books.book(books.chunk("mine"), state="failed", prefix="mine", parts=True)
    theirs = books.book(books.chunk("theirs"), state="succeeded", prefix="theirs", parts=True)
    found = gc.find(
        books.storage, books.state, bucket=books.name, prefix="mine", older_than_days=0, now=time.time() + 1
    )
    assert {p.key for p in found.parts} == part_keys(mine, "mine")
    assert [c.key for c in found.chunks] == [chunk_key("theirs")], "chunks are the bucket's: the succeeded book's goes"
    assert theirs


def test_the_command_is_a_dry_run_unless_applied(books: Bucket, stack_env: dict[str, str]) -> None:
    orphan = books.chunk("orphan")
    url = f"s3://{books.name}"
    listed = CliRunner().invoke(app, ["gc", url, "--older-than-days", "0", "--json"])
    assert listed.exit_code == 0, listed.output
    report = json.loads(listed.stdout)
    assert report["chunks"]["keys"] == [orphan] and report["applied"] is False and orphan in books.keys()
    shown = CliRunner().invoke(app, ["gc", url, "--older-than-days", "0"])
    assert f"would delete s3://{books.name}/{orphan}" in shown.stdout and "--apply" in shown.stdout
    applied = CliRunner().invoke(app, ["gc", url, "--older-than-days", "0", "--apply"])
    assert applied.exit_code == 0 and f"deleted s3://{books.name}/{orphan}" in applied.stdout
    assert orphan not in books.keys()
    wrong = CliRunner().invoke(app, ["gc", "my-bucket"])
    assert wrong.exit_code == 2 and "s3://bucket[/prefix]" in wrong.output


def test_a_chunks_takes_go_with_it_and_stay_with_it(books: Bucket) -> None:
    def takes(chunk: str) -> set[str]:
        made = {keys.chunk_takes(chunk), keys.chunk_take_audio(chunk, 1), keys.chunk_take_audio(chunk, 2)}
        for key in made:
            books.storage.put(books.name, key, b"take", content_type="application/octet-stream")
        return made

    used, unused = books.chunk("used"), books.chunk("unused")
    books.book(used)
    kept, gone = takes(used), takes(unused)
    found = gc.find(books.storage, books.state, bucket=books.name, older_than_days=0, now=time.time() + 1)
    assert {c.key for c in found.chunks} == {unused} | gone
    assert found.kept["chunks_referenced"] == 4  # the used chunk and its three takes objects
    gc.collect(books.storage, books.state, found)
    assert {used} | kept <= books.keys() and not ({unused} | gone) & books.keys()
