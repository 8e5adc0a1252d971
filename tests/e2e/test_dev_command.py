"""`narrate dev`, the embedded default, as a user runs it: a real process in an empty folder."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.http import http
from worker.audio import codec

pytestmark = pytest.mark.e2e


def dev_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NARRATE_", "AWS_", "FISH_"))}
    return env | {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


# Every run of the module, in an empty folder of its own: those that render and exit, and those that stay until
# Ctrl-C (their tests read their output as it comes and send the Ctrl-C).
STAY = ("ctrl-c", "pipelines")
PIPELINES = (
    "pipelines:\n  - name: inbox\n    inbox: s3://drop/inbox/\n    out: s3://drop/audio/\n"
    "    voice: narrator\n    every: 1s\n"
)


def arguments(name: str, folder: Path) -> list[str]:
    """What run `name` is given; the files it reads are written into its folder."""
    if name == "epub":
        from tests.support.epubs import fable

        fable(folder / "fable.epub")
        (folder / "names.csv").write_text("word,say\ntraveller,wayfarer\n")
        return ["fable.epub", "--lexicon", "names.csv", "--read-along"]
    if name == "pipelines":
        (folder / "pipelines.yaml").write_text(PIPELINES)
        return ["--pipelines", str(folder / "pipelines.yaml")]
    # The render is held in flight until the test's Ctrl-C, however long the runs before it take.
    ctrl_c = ["--emulator-latency", "120", "--flower", "--flower-port", "0"]
    return {"sample": [], "ctrl-c": ctrl_c, "faults": ["--faults", "0.1", "--json"]}[name]


@dataclass(frozen=True)
class DevRun:
    """One `narrate dev`; a run that renders and exits writes its output outside its folder, to `output`."""

    folder: Path
    process: subprocess.Popen
    output: Path | None = None

    def result(self) -> subprocess.CompletedProcess[str]:
        assert self.output is not None, "a run that stays until Ctrl-C has no result to wait for"
        self.process.wait(timeout=240)
        out, err = (self.output / "stdout").read_text(), (self.output / "stderr").read_text()
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, out, err)


@pytest.fixture(scope="module")
def dev_runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, DevRun]]:
    """Every run started side by side (each is its own stack, on ports of its own), then waited for or talked to
    by its test: much of a run is waiting on its services, and the waits overlap instead of adding up."""
    runs = {}
    for name in ("sample", "ctrl-c", "epub", "pipelines", "faults"):
        folder = tmp_path_factory.mktemp(f"dev-{name}")
        argv = [sys.executable, "-m", "producer.cli.main", "dev", *arguments(name, folder)]
        env = dev_env(folder) | ({"COLUMNS": "80"} if name == "sample" else {})
        if name in STAY:
            process = subprocess.Popen(
                argv, cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
            )
            runs[name] = DevRun(folder, process)
            continue
        output = tmp_path_factory.mktemp(f"dev-{name}-output")
        with open(output / "stdout", "wb") as stdout, open(output / "stderr", "wb") as stderr:
            runs[name] = DevRun(
                folder, subprocess.Popen(argv, cwd=folder, env=env, stdout=stdout, stderr=stderr), output
            )
    yield runs
    for run in runs.values():  # a run its test never finished stops its stack as on Ctrl-C
        if run.process.poll() is None:
            run.process.send_signal(signal.SIGINT)
            run.process.communicate(timeout=60)


def test_dev_renders_the_bundled_sample_into_out(dev_runs: dict[str, DevRun]) -> None:
    tmp_path, result = dev_runs["sample"].folder, dev_runs["sample"].result()
    assert result.returncode == 0, result.stdout + result.stderr
    mp3s = sorted((tmp_path / "out").glob("*.mp3"))
    assert [p.stem for p in mp3s] == ["01-the-wager", "02-the-wind", "03-the-sun"]
    for mp3 in mp3s:
        assert codec.probe(mp3.read_bytes()).duration_seconds > 3
        assert (mp3.with_suffix(".json")).exists()
    assert result.stdout.count("succeeded") >= 3
    # The demo promotes after the first use: two one-shot parts, then the trained voice.
    assert result.stdout.count("one_shot") == 2 and result.stdout.count("reference_id") == 1
    words = " ".join(result.stdout.split())  # at 80 columns the voice's line wraps
    assert re.search(
        r"voice [0-9a-f]{12}: 3 uses, trained as Fish voice [0-9a-f]{32}; one-shot bytes saved: [1-9]", words
    )
    # The results table fits an 80-column terminal and names the saved files whole, not folded S3 URLs.
    table = result.stdout[result.stdout.index("narrate dev: results") :]
    assert max(len(line) for line in table.splitlines()) <= 80, table
    for mp3 in mp3s:
        assert f"out/{mp3.name}" in table, table
    assert "s3://" not in table


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_ctrl_c_stops_everything_it_started_flower_included(dev_runs: dict[str, DevRun]) -> None:
    process = dev_runs["ctrl-c"].process
    seen = ""
    deadline = time.monotonic() + 180
    while "submitted" not in seen and time.monotonic() < deadline:
        line = process.stdout.readline()  # type: ignore[union-attr]
        if not line:
            break
        seen += line
    ports = [int(p) for p in re.findall(r"127\.0\.0\.1:(\d+)", seen)]
    assert len(ports) == 4, seen  # Flower, redis, s3, emulator
    assert all(port_open(p) for p in ports)
    flower = re.search(r"Flower .* at (http://\S+)", seen).group(1)  # type: ignore[union-attr]
    deadline = time.monotonic() + 30
    while not any(
        t.get("name") == "narrate.render" for t in http().get(f"{flower}/api/tasks", timeout=5).json().values()
    ):
        assert time.monotonic() < deadline, "Flower never saw the render task: are task events on?"
        time.sleep(0.5)

    process.send_signal(signal.SIGINT)
    rest, _ = process.communicate(timeout=60)
    assert process.returncode == 130, seen + rest
    assert "interrupted" in rest
    assert not any(port_open(p) for p in ports), "a service outlived narrate dev"


def test_dev_renders_an_epub_into_a_chaptered_m4b(dev_runs: dict[str, DevRun]) -> None:
    import av

    tmp_path, result = dev_runs["epub"].folder, dev_runs["epub"].result()
    assert result.returncode == 0, result.stdout + result.stderr
    folder = tmp_path / "out" / "fable"
    with av.open(str(folder / "book.m4b")) as container:
        assert [c["metadata"]["title"] for c in container.chapters()] == ["The Wager", "The Wind", "The Sun"]
        assert container.duration / 1e6 > 10
    assert sorted(p.name for p in folder.glob("chapter-*.mp3")) == [
        "chapter-001.mp3",
        "chapter-002.mp3",
        "chapter-003.mp3",
    ]
    for name in ("chapters.json", "book.srt", "book.vtt", "manifest.json"):
        assert (folder / name).exists()
    assert (
        "The North Wind and the Sun: chapters" in result.stdout and "RMS, peak and noise floor in dB" in result.stdout
    )
    assert "ACX: pass" in result.stdout  # mastered, with room tone: every chapter passes the store's checks
    manifest = json.loads((folder / "manifest.json").read_text())
    assert [[c["entries"] for c in chapter["lexicon"]] for chapter in manifest["chapters"]] == [[["traveller"]]] * 3
    # --read-along: the fable's text with its narration inside, one overlay per chapter, heard to time it
    with zipfile.ZipFile(folder / "readalong.epub") as epub:
        assert len([n for n in epub.namelist() if n.endswith(".smil")]) == 3
        assert len([n for n in epub.namelist() if n.endswith(".mp3")]) == 3
    assert "out/fable/readalong.epub: the text, each sentence highlighted as it is heard" in result.stdout
    assert manifest["qc"]["mode"] == "report", "read-along hears every take"


def test_dev_runs_pipelines_until_ctrl_c(dev_runs: dict[str, DevRun]) -> None:
    import boto3

    process = dev_runs["pipelines"].process
    seen = ""
    try:
        while "Ctrl-C stops everything" not in seen:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line, seen
            seen += line
        endpoint = re.search(r"aws --endpoint-url (\S+) s3 cp book.md s3://drop/inbox/", seen)
        assert endpoint, seen
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint[1],
            aws_access_key_id="narrate-dev",
            aws_secret_access_key="narrate-dev-secret",
            region_name="us-east-1",
        )
        s3.put_object(Bucket="drop", Key="inbox/hello.txt", Body=b"Hello from the inbox.")
        while "1 processed" not in seen:
            line = process.stdout.readline()  # type: ignore[union-attr]
            assert line, seen
            seen += line
        assert s3.head_object(Bucket="drop", Key="processed/inbox/hello.result.json")
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 130 and "interrupted" in rest


def test_dev_with_faults_shows_takes_heard_and_retaken(dev_runs: dict[str, DevRun]) -> None:
    result = dev_runs["faults"].result()
    assert result.returncode == 0, result.stdout + result.stderr
    heard = [job["qc"] for job in json.loads(result.stdout)["jobs"]]
    assert [qc["mode"] for qc in heard] == ["retake"] * 3
    assert sum(qc["retakes"] for qc in heard) >= 1, heard
    assert all(qc["takes_heard"] == qc["chunks_heard"] + qc["retakes"] for qc in heard)
