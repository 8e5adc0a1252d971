"""The Grant: folders are folders, URLs are checked as S3 reads them, and `narrate pipelines check` shows each
pipeline's."""

from __future__ import annotations

import pickle

import pytest
from typer.testing import CliRunner

from producer.cli.main import app
from producer.submit.grant import Grant, Refused


def test_a_folder_admits_what_lies_in_it_and_nothing_beside_it() -> None:
    grant = Grant(sources=("s3://books/inbox",), outputs=("s3://books/audio/",), local_paths=False)
    assert grant.check_read("s3://books/inbox/a/b.md", where="w") == "s3://books/inbox/a/b.md"
    for url in (
        "s3://books/inbox-other/a.md",
        "s3://books/inbox/../secret.md",
        "s3://books/inbox/%2e%2e/x",
        "s3://books/inbox/a?x=1",
        "s3://books/inbox//a.md",
        "s3://other/inbox/a.md",
        "/etc/passwd",
        "~/clip.wav",
    ):
        with pytest.raises(Refused):
            grant.check_read(url, where="w")
    assert grant.check_write("s3://books/audio", where="w") and grant.check_write("s3://books/audio/x/", where="w")
    with pytest.raises(Refused):
        grant.check_write("s3://books/audiobooks/", where="w")


def test_webhooks_match_on_a_path_boundary_and_a_refusal_survives_pickling() -> None:
    grant = Grant(notify=("https://hooks.example.com",))
    assert grant.check_notify("https://hooks.example.com/narrate", where="w")
    with pytest.raises(Refused) as refused:
        grant.check_notify("https://hooks.example.com.evil.net/x?token=secret", where="w")
    assert "secret" not in str(refused.value)
    copy = pickle.loads(pickle.dumps(refused.value))  # refusals cross from the reading child process
    assert isinstance(copy, Refused) and copy.reference == refused.value.reference and str(copy) == str(refused.value)


def test_no_grant_restricts_nothing() -> None:
    grant = Grant()
    assert (
        not grant.restricted
        and grant.check_read("/any/local/file", where="w")
        and grant.check_voice("anyone", where="w")
    )
    assert grant.check_budget(None, where="w") is None and grant.check_budget(1e6, where="w") == 1e6


def test_pipelines_check_shows_each_pipelines_boundary(tmp_path) -> None:
    config = tmp_path / "pipelines.yaml"
    config.write_text(
        "pipelines:\n  - name: a\n    inbox: s3://books/inbox/\n    out: s3://books/audio/{date}/\n"
        "    voice: narrator\n"
        "    every: 1m\n    budget: 5\n  - name: b\n    inbox: s3://books/b/\n    out: s3://books/b-audio/\n"
        "    voice: narrator\n    every: 1m\n    sources: [s3://shared/manuscripts]\n    voices: [narrator, guest]\n"
        "    notify_allowed: https://hooks.example.com/\n"
    )
    shown = CliRunner().invoke(app, ["pipelines", "check", str(config)])
    assert shown.exit_code == 0, shown.output
    assert "reads: s3://books/audio/, s3://books/inbox/" in shown.output and "writes: s3://books/audio/" in shown.output
    assert "budget: $5.00" in shown.output and "local files: never" in shown.output and "webhooks: none" in shown.output
    assert "reads: s3://shared/manuscripts/" in shown.output and "voices: guest, narrator" in shown.output
    assert "webhooks: https://hooks.example.com/" in shown.output
    config.write_text(
        "pipelines:\n  - name: a\n    inbox: s3://books/inbox/\n    out: s3://books/audio/\n    voice: narrator\n"
        "    every: 1m\n    sources: [/home/operator]\n"
    )
    bad = CliRunner().invoke(app, ["pipelines", "check", str(config)])
    assert bad.exit_code == 2 and "line 7" in bad.output and "is not an S3 URL" in bad.output
