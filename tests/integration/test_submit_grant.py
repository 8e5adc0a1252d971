"""One grant at every door: `narrate submit --sources` holds a manifest to S3 folders, the Python API takes the same
Grant.

Against real Redis and S3; no worker runs.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from producer.cli.main import app
from producer.readers.books import read_book
from producer.readers.text import TextSource
from producer.submit import Grant, Refused, Submitter
from producer.submit.books import BookSubmitter
from worker.app import QUEUE
from worker.settings import Settings
from worker.storage import Storage

VOICE_ID = "802e3bc2b27e49c2995d23ef70e6ac89"
BOOK = b"# Shared\n\n## One\n\nA manuscript in the customer's folder.\n"


def write_manifest(tmp_path, *entries: dict, name: str = "from-customer") -> str:  # noqa: ANN001
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(entry) + "\n" for entry in entries), encoding="utf-8")
    return str(path)


def test_submit_sources_refuses_an_entry_outside_them_and_sends_nothing(
    stack_env, bucket, redis_client, tmp_path
) -> None:
    storage = Storage()
    storage.put(bucket, "customer-a/book.md", BOOK, content_type="text/markdown")
    storage.put(bucket, "customer-b/book.md", BOOK, content_type="text/markdown")
    (tmp_path / "local.md").write_bytes(BOOK)
    out = f"s3://{bucket}/audio/"
    runner = CliRunner()
    sources = ["--sources", f"s3://{bucket}/customer-a"]

    outside = write_manifest(
        tmp_path,
        {"file": f"s3://{bucket}/customer-a/book.md", "out": out, "voice_id": VOICE_ID},
        {"file": f"s3://{bucket}/customer-b/book.md", "out": out, "voice_id": VOICE_ID},
    )
    refused = runner.invoke(app, ["submit", outside, *sources])
    assert refused.exit_code == 2 and "from-customer.jsonl: line 2: `file`" in refused.output, refused.output
    assert f"s3://{bucket}/customer-b/book.md is outside what this submitter may read" in refused.output
    local = write_manifest(tmp_path, {"file": "local.md", "out": out, "voice_id": VOICE_ID}, name="local")
    refused_local = runner.invoke(app, ["submit", local, *sources])
    assert (
        refused_local.exit_code == 2
        and "is a local path, and files on this machine are never read" in refused_local.output
    )
    assert redis_client.llen(QUEUE) == 0, "nothing was sent"

    inside = write_manifest(
        tmp_path, {"file": f"s3://{bucket}/customer-a/book.md", "out": out, "voice_id": VOICE_ID}, name="inside"
    )
    taken = runner.invoke(app, ["submit", inside, *sources])
    assert taken.exit_code == 0 and redis_client.llen(QUEUE) == 1, taken.output  # the book's one chunk
    assert runner.invoke(app, ["submit", local]).exit_code == 0, (
        "without --sources a manifest names local files as always"
    )


def test_submit_sources_must_be_s3_folders(stack_env, tmp_path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "submit",
            write_manifest(tmp_path, {"text": "x", "out": "s3://b/x", "voice_id": VOICE_ID}),
            "--sources",
            "/home/me",
        ],
    )
    assert result.exit_code == 2 and "--sources: '/home/me' is not an S3 URL" in result.output


def test_the_python_api_takes_the_same_grant(stack_env, bucket, redis_client, tmp_path) -> None:
    grant = Grant(
        outputs=(f"s3://{bucket}/tenant-a",),
        voices=frozenset({VOICE_ID}),
        budget_usd=0.5,
        notify=("https://hooks.example.com/a",),
    )
    jobs = Submitter.from_settings(Settings(), grant=grant)
    with pytest.raises(Refused, match="outside where this submitter may write"):
        jobs.submit(sources=[TextSource("x", "Words.")], voice=VOICE_ID, out=f"s3://{bucket}/tenant-a-other/")
    with pytest.raises(Refused, match="is not one this submitter may use"):
        jobs.batch(voice="aaaabbbbccccddddeeeeffff00001111", out=f"s3://{bucket}/tenant-a/")
    assert (
        len(jobs.submit(sources=[TextSource("x", "Words.")], voice=VOICE_ID, out=f"s3://{bucket}/tenant-a/news")) == 1
    )

    (tmp_path / "book.md").write_bytes(BOOK)
    book = read_book(str(tmp_path / "book.md"))
    books = BookSubmitter.from_settings(Settings(), grant=grant)
    with pytest.raises(Refused, match=r"a budget of \$5.00 is above this submitter's \$0.50"):
        books.submit(book, voice=VOICE_ID, out=f"s3://{bucket}/tenant-a/book", budget_usd=5.0)
    with pytest.raises(Refused, match="the webhook 'https://hooks.example.com/ab' is not one this submitter may call"):
        books.submit(
            book, voice=VOICE_ID, out=f"s3://{bucket}/tenant-a/book", notify_url="https://hooks.example.com/ab?token=x"
        )
    assert redis_client.llen(QUEUE) == 1, "only the job inside the grant was sent"
    unbounded = BookSubmitter.from_settings(Settings())
    plan, _ = unbounded.submit(book, voice="aaaabbbbccccddddeeeeffff00001111", out=f"s3://{bucket}/anywhere/")
    assert plan.book_id, "without a grant, as before: anywhere, any voice"
