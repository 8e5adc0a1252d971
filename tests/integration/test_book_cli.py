"""Audiobook input at the CLI, no workers: manifests, estimates, and refusals that enqueue nothing."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from producer.cli.main import app
from tests.support.epubs import fable, write_epub
from worker.books.state import BookState
from worker.settings import Settings

runner = CliRunner()


@pytest.fixture
def voice_args(reference_clip) -> list[str]:
    return ["--voice", str(reference_clip[0]), "--transcript", reference_clip[1]]


def nothing_enqueued(client: redis.Redis) -> None:
    assert client.keys("narrate:*") == [] and client.llen("narrate") == 0


def test_a_manifest_submits_each_book_with_its_own_voice_output_and_format(
    stack_env, bucket, redis_client, reference_clip, tmp_path
) -> None:
    fable(tmp_path / "one.epub")
    (tmp_path / "two.md").write_text(
        "# Second\n\n## Part A\n\nFirst words.\n\n## Part B\n\nLast words.\n", encoding="utf-8"
    )
    clip, transcript = reference_clip
    lines = [
        {"file": "one.epub", "out": f"s3://{bucket}/one", "voice": str(clip), "transcript": transcript},
        {"file": "two.md", "out": f"s3://{bucket}/two", "voice_id": "a1b2c3", "format": "opus", "title": "Book Two"},
    ]
    manifest = tmp_path / "books.jsonl"
    manifest.write_text("\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["submit", str(manifest), "--out", "s3://unused"])
    assert result.exit_code == 0, result.output
    state = BookState(redis_client)
    books = [
        state.get(key.decode().split(":")[2]) for key in redis_client.keys("narrate:book:*") if key.count(b":") == 2
    ]
    by_title = {b["title"]: b for b in books}
    assert set(by_title) == {"The North Wind and the Sun", "Book Two"}
    assert by_title["Book Two"]["format"] == "opus" and by_title["Book Two"]["prefix"] == "two"
    assert [c["title"] for c in by_title["Book Two"]["chapters"]] == ["Part A", "Part B"]
    assert redis_client.llen("narrate") == sum(b["chunks_total"] for b in books)


def drm_epub(path: Path) -> Path:
    fable(path)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(
            "META-INF/encryption.xml",
            (
                '<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container"'
                ' xmlns:enc="http://www.w3.org/2001/04/xmlenc#">'
                '<enc:EncryptedData><enc:EncryptionMethod Algorithm="http://www.w3.org/2001/04/xmlenc#aes128-cbc"/>'
                '<enc:CipherData><enc:CipherReference URI="EPUB/chapter-1.xhtml"/></enc:CipherData>'
                "</enc:EncryptedData></encryption>"
            ),
        )
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (drm_epub, "DRM-protected"),
        (lambda p: (p.write_bytes(b"not a zip at all"), p)[1], "not a readable EPUB"),
        (
            lambda p: write_epub(
                p, title="T", author="A", chapters=[("Full", ["Words."]), ("Empty", [" "])], cover=False, headings=False
            ),
            "is empty",
        ),
    ],
    ids=["drm", "corrupt", "empty-chapter"],
)
def test_unreadable_books_are_refused_before_anything_is_sent(
    make, message, stack_env, bucket, redis_client, voice_args, tmp_path
) -> None:
    path = make(tmp_path / "book.epub")
    result = runner.invoke(app, ["book", str(path), *voice_args, "--out", f"s3://{bucket}/b"])
    assert result.exit_code == 2, result.output
    assert message in result.output
    nothing_enqueued(redis_client)


def test_a_latin1_markdown_book_is_refused_with_the_fix(stack_env, bucket, redis_client, voice_args, tmp_path) -> None:
    path = tmp_path / "book.md"
    path.write_bytes("# Título\n\n## Capítulo\n\nEl niño comió.".encode("latin-1"))
    result = runner.invoke(app, ["submit", str(path), *voice_args, "--out", f"s3://{bucket}/b"])
    assert result.exit_code == 2 and "not UTF-8" in result.output and "iconv" in result.output
    nothing_enqueued(redis_client)


def test_one_bad_book_in_a_manifest_stops_them_all(stack_env, bucket, redis_client, reference_clip, tmp_path) -> None:
    fable(tmp_path / "good.epub")
    drm_epub(tmp_path / "bad.epub")
    entries = [{"file": name, "out": f"s3://{bucket}/x", "voice_id": "abc"} for name in ("good.epub", "bad.epub")]
    manifest = tmp_path / "books.yaml"
    manifest.write_text("books:\n" + "".join(f"  - {json.dumps(e)}\n" for e in entries), encoding="utf-8")
    result = runner.invoke(app, ["submit", str(manifest), "--out", "s3://unused"])
    assert result.exit_code == 2 and "DRM-protected" in result.output
    nothing_enqueued(redis_client)


def test_estimate_prices_a_book_without_rendering(stack_env, redis_client, tmp_path) -> None:
    path = fable(tmp_path / "fable.epub")
    result = runner.invoke(app, ["estimate", str(path), "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.output)
    assert row["chapters"] == 3 and row["chunks"] >= 6 and row["cached_chunks"] is None
    assert row["cost_usd"] == pytest.approx(row["text_bytes"] / 1e6 * Settings().price_per_million_bytes, abs=1e-4)
    assert row["audio_seconds"] > 10
    table = runner.invoke(app, ["estimate", str(path)])
    assert "The North Wind" not in table.output or "fable.epub" in table.output
    nothing_enqueued(redis_client)


def test_watch_of_an_unknown_book_is_bad_input(stack_env, redis_client) -> None:
    result = runner.invoke(app, ["watch", "0" * 32, "--timeout", "1"])
    assert result.exit_code == 2 and "no such book" in result.output


def test_a_chapter_too_big_to_assemble_is_refused_before_anything_is_sent(
    stack_env, bucket, redis_client, voice_args, tmp_path, monkeypatch
) -> None:
    from worker.settings import get_settings
    from worker.storage import Storage

    # The fable's chapters are about 9 s of speech each, 1 MB of spool: a tenth of that fits none of them.
    monkeypatch.setenv("NARRATE_SPOOL_LIMIT_BYTES", "100000")
    get_settings.cache_clear()
    path = fable(tmp_path / "fable.epub")
    result = runner.invoke(app, ["book", str(path), *voice_args, "--out", f"s3://{bucket}/b"])
    assert result.exit_code == 2, result.output
    assert (
        "chapter 1 ('The Wager')" in result.output
        and "NARRATE_SPOOL_LIMIT_BYTES" in result.output
        and "split" in result.output
    )
    nothing_enqueued(redis_client)
    assert Storage().list(bucket, "") == [], "no clip, plan or cover stored"
