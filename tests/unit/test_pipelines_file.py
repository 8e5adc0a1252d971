"""The pipelines file: the two kinds read as written, and every mistake named by its line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from producer.cli.main import app
from producer.pipelines.config import read_pipelines
from worker.errors import BadInput

GOOD = """\
pipelines:
  - name: publisher-inbox
    inbox: s3://books/inbox/
    out: s3://books/audio/
    voice: narrator
    preset: acx
    every: 60s
  - name: morning-bulletin
    recurring: s3://news/today.txt
    out: s3://news/audio/{date}/{time}/
    voice_id: 802e3bc2b27e49c2995d23ef70e6ac89
    cron: "0 6 * * *"
    timezone: Europe/Berlin
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "pipelines.yaml"
    path.write_text(text)
    return path


def test_both_kinds_read_as_written(tmp_path: Path) -> None:
    inbox, bulletin = read_pipelines(write(tmp_path, GOOD)).pipelines
    assert (inbox.kind, inbox.every_seconds, inbox.preset, inbox.max_new_per_scan) == ("inbox", 60, "acx", 50)
    assert (bulletin.kind, bulletin.cron, bulletin.timezone, bulletin.every_seconds) == ("recurring", "0 6 * * *", "Europe/Berlin", None)


@pytest.mark.parametrize(("change", "line", "says"), [
    (("every: 60s", "every: soon"), 7, "'soon' is not a duration; write e.g. 30s, 5m"),
    (("cron: \"0 6 * * *\"", "cron: \"0 6 *\""), 12, "five fields"),
    (("timezone: Europe/Berlin", "timezone: Mars/Olympus"), 13, "not a time zone"),
    (("inbox: s3://books/inbox/", "inbox: /srv/inbox"), 3, "is not an S3 URL"),
    (("out: s3://news/audio/{date}/{time}/", "out: s3://news/audio/{day}/"), 10, "unknown placeholder {day}"),
    (("    voice: narrator\n", "    voice: narrator\n    voice_id: 802e3bc2b27e49c2995d23ef70e6ac89\n"), 2, "exactly one voice"),
    (("name: morning-bulletin", "name: publisher-inbox"), 1, "two pipelines are named 'publisher-inbox'"),
    (("name: morning-bulletin", "name: Morning Bulletin"), 8, "pipelines.1.name"),
    (("    preset: acx\n", "    preset: acx\n    colour: blue\n"), 7, "pipelines.0.colour: Extra inputs are not permitted"),
    (("out: s3://books/audio/", "out: s3://books/inbox/audio/"), 2, "`out` lies inside `inbox`"),
])  # fmt: skip
def test_each_mistake_names_its_line(tmp_path: Path, change: tuple[str, str], line: int, says: str) -> None:
    path = write(tmp_path, GOOD.replace(*change, 1))
    with pytest.raises(BadInput) as caught:
        read_pipelines(path)
    assert f"{path}: line {line}:" in str(caught.value) and says in str(caught.value)


def test_broken_yaml_names_its_line(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"line 3: not valid YAML"):
        read_pipelines(write(tmp_path, "pipelines:\n  - name: a\n   out: [\n"))


def test_narrate_pipelines_check(tmp_path: Path) -> None:
    runner = CliRunner()
    good = runner.invoke(app, ["pipelines", "check", str(write(tmp_path, GOOD))])
    assert good.exit_code == 0, good.output
    assert "2 pipeline(s), valid" in good.output and "morning-bulletin: recurring s3://news/today.txt" in good.output
    bad = runner.invoke(app, ["pipelines", "check", str(write(tmp_path, GOOD.replace("every: 60s", "every: 0s")))])
    assert bad.exit_code != 0 and "line 7" in bad.output and "is not a duration" in bad.output


def test_an_edited_file_takes_effect_at_the_next_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    from producer.pipelines import tasks
    from worker.settings import get_settings

    path = write(tmp_path, GOOD)
    monkeypatch.setenv("NARRATE_PIPELINES_FILE", str(path))
    get_settings.cache_clear()
    assert [p.name for p in tasks.pipelines()] == ["publisher-inbox", "morning-bulletin"]
    path.write_text(GOOD.replace("name: morning-bulletin", "name: evening-bulletin"))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert [p.name for p in tasks.pipelines()] == ["publisher-inbox", "evening-bulletin"], "no restart needed"
    get_settings.cache_clear()
