"""The pipelines file: the two kinds read as written, and every mistake named by its line."""

from __future__ import annotations

from datetime import UTC
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
    assert (bulletin.kind, bulletin.cron, bulletin.timezone, bulletin.every_seconds) == (
        "recurring",
        "0 6 * * *",
        "Europe/Berlin",
        None,
    )


@pytest.mark.parametrize(
    ("change", "line", "says"),
    [
        (("every: 60s", "every: soon"), 7, "'soon' is not a duration; write e.g. 30s, 5m"),
        (('cron: "0 6 * * *"', 'cron: "0 6 *"'), 12, "five fields"),
        (("timezone: Europe/Berlin", "timezone: Mars/Olympus"), 13, "not a time zone"),
        (("inbox: s3://books/inbox/", "inbox: /srv/inbox"), 3, "is not an S3 URL"),
        (("out: s3://news/audio/{date}/{time}/", "out: s3://news/audio/{day}/"), 10, "unknown placeholder {day}"),
        (
            ("    voice: narrator\n", "    voice: narrator\n    voice_id: 802e3bc2b27e49c2995d23ef70e6ac89\n"),
            2,
            "exactly one voice",
        ),
        (("name: morning-bulletin", "name: publisher-inbox"), 1, "two pipelines are named 'publisher-inbox'"),
        (("name: morning-bulletin", "name: Morning Bulletin"), 8, "pipelines.1.name"),
        (
            ("    preset: acx\n", "    preset: acx\n    colour: blue\n"),
            7,
            "pipelines.0.colour: Extra inputs are not permitted",
        ),
        (("out: s3://books/audio/", "out: s3://books/inbox/audio/"), 2, "`out` lies inside `inbox`"),
    ],
)
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


def _runs(expression: str, *, after: str, zone: str = "UTC", count: int = 3) -> list[str]:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from producer.pipelines.schedule import next_cron

    moment, found = datetime.fromisoformat(after).replace(tzinfo=ZoneInfo(zone)).timestamp(), []
    for _ in range(count):
        moment = next_cron(expression, after=moment, zone=zone)
        found.append(datetime.fromtimestamp(moment, ZoneInfo(zone)).strftime("%a %Y-%m-%d %H:%M"))
    return found


def test_cron_runs_at_the_minutes_its_fields_allow() -> None:
    assert _runs("*/20 * * * *", after="2026-12-01 10:05") == [
        "Tue 2026-12-01 10:20",
        "Tue 2026-12-01 10:40",
        "Tue 2026-12-01 11:00",
    ]
    assert _runs("0 6 * * 1-5", after="2026-12-04 07:00") == [
        "Mon 2026-12-07 06:00",
        "Tue 2026-12-08 06:00",
        "Wed 2026-12-09 06:00",
    ]
    assert _runs("30 2 1 1,7 *", after="2026-06-15 00:00", count=2) == ["Wed 2026-07-01 02:30", "Fri 2027-01-01 02:30"]
    assert _runs("0 0 * * 7", after="2026-12-01 00:00", count=1) == ["Sun 2026-12-06 00:00"], "7 is Sunday, as in cron"


def test_cron_with_both_day_fields_runs_on_either_as_cron_does() -> None:
    # the 13th of the month, and every Friday: cron ORs the two day fields when both are restricted
    assert _runs("0 9 13 * 5", after="2026-11-01 00:00", count=4) == [
        "Fri 2026-11-06 09:00",
        "Fri 2026-11-13 09:00",
        "Fri 2026-11-20 09:00",
        "Fri 2026-11-27 09:00",
    ]
    assert _runs("0 9 13 * 5", after="2026-12-01 00:00", count=3) == [
        "Fri 2026-12-04 09:00",
        "Fri 2026-12-11 09:00",
        "Sun 2026-12-13 09:00",
    ]
    assert _runs("0 9 13 * *", after="2026-12-01 00:00", count=1) == ["Sun 2026-12-13 09:00"], (
        "a star day of week leaves the date alone"
    )


def test_cron_in_a_time_zone_follows_its_clock() -> None:
    from datetime import datetime

    from producer.pipelines.schedule import next_cron

    # 06:00 in Berlin is 05:00 UTC in winter and 04:00 UTC in summer
    winter = next_cron("0 6 * * *", after=datetime(2026, 12, 1, tzinfo=UTC).timestamp(), zone="Europe/Berlin")
    summer = next_cron("0 6 * * *", after=datetime(2026, 7, 1, tzinfo=UTC).timestamp(), zone="Europe/Berlin")
    assert datetime.fromtimestamp(winter, UTC).hour == 5 and datetime.fromtimestamp(summer, UTC).hour == 4


@pytest.mark.parametrize(
    ("cron", "says"),
    [
        ("61 * * * *", "minute field's range 0-59"),
        ("0 6 32 * *", "day field's range 1-31"),
        ("0 6 * * 8", "weekday field's range 0-7"),
        ("*/0 * * * *", "outside"),
    ],
)
def test_a_cron_field_out_of_range_is_refused(tmp_path: Path, cron: str, says: str) -> None:
    from producer.pipelines.config import read_pipelines

    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n  - name: bad\n    recurring: s3://news/today.txt\n    out: s3://news/audio/\n"
        f'    voice: n\n    cron: "{cron}"\n'
    )
    with pytest.raises(BadInput, match=says):
        read_pipelines(path)


def test_a_cron_that_can_never_fire_is_refused_by_check_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace('cron: "0 6 * * *"', 'cron: "0 6 30 2 *"'))
    with pytest.raises(
        BadInput, match=r"line 12: .*'0 6 30 2 \*' never runs: no month it allows \(February\) has a day 30"
    ):
        read_pipelines(path)
    checked = CliRunner().invoke(app, ["pipelines", "check", str(path)])
    assert checked.exit_code != 0 and "line 12" in checked.output and "never runs" in checked.output
    assert read_pipelines(write(tmp_path, GOOD.replace('cron: "0 6 * * *"', 'cron: "0 6 29 2 *"'))), (
        "leap days come round"
    )
    assert read_pipelines(write(tmp_path, GOOD.replace('cron: "0 6 * * *"', 'cron: "0 6 30 2 1"'))), (
        "or any Monday: cron ORs the days"
    )


def test_the_service_runs_the_other_pipelines_and_names_the_line_of_the_refused_one(
    tmp_path: Path, monkeypatch, caplog
) -> None:
    from producer.pipelines import tasks
    from worker.settings import get_settings

    path = write(tmp_path, GOOD.replace('cron: "0 6 * * *"', 'cron: "0 6 30 2 *"'))
    monkeypatch.setenv("NARRATE_PIPELINES_FILE", str(path))
    get_settings.cache_clear()
    with caplog.at_level("ERROR", logger="narrate.pipelines"):
        assert [p.name for p in tasks.pipelines()] == ["publisher-inbox"]
    assert f"{path}: line 12: pipelines.1.cron" in caplog.text and "never runs" in caplog.text
    get_settings.cache_clear()


def test_a_pipeline_whose_webhook_is_internal_is_refused_with_its_line_and_the_others_run(
    tmp_path, monkeypatch
) -> None:
    from producer.pipelines.config import read_pipelines, read_pipelines_each
    from worker.errors import BadInput
    from worker.settings import get_settings

    monkeypatch.setenv("NARRATE_WEBHOOK_SECRET", "s")
    get_settings.cache_clear()
    path = tmp_path / "pipelines.yaml"
    path.write_text(
        "pipelines:\n"
        "  - name: sneaky\n    inbox: s3://books/in/\n    out: s3://books/out/\n    voice_id: v1\n    every: 1m\n"
        "    notify: http://169.254.169.254/latest/meta-data/\n"
        "  - name: fine\n    inbox: s3://books/in2/\n    out: s3://books/out2/\n    voice_id: v1\n    every: 1m\n"
    )
    try:
        found, refused = read_pipelines_each(path)
        assert [p.name for p in found] == ["fine"]
        assert len(refused) == 1 and "line 7" in refused[0] and "169.254.169.254" in refused[0]
        with pytest.raises(BadInput, match="line 7"):
            read_pipelines(path)
    finally:
        get_settings.cache_clear()
