"""EPUBCheck, the W3C's EPUB validator, from Debian's `epubcheck` package: installed when missing (as root).

`epubcheck(path)` runs it on one file and returns its messages; a test asserts there is no ERROR or FATAL
among them. The JSON report is read, not the console: its messages carry their severity and place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

JAR = Path("/usr/share/java/epubcheck.jar")


@dataclass(frozen=True)
class Message:
    severity: str  # FATAL, ERROR, WARNING, USAGE, INFO
    id: str
    text: str
    where: str

    def __str__(self) -> str:
        return f"{self.severity} {self.id} {self.where}: {self.text}"


@cache
def epubcheck_jar() -> Path:
    """The jar, installing Debian's package (and a Java runtime with it) when it is not there."""
    if not JAR.exists():
        if os.geteuid() != 0 or shutil.which("apt-get") is None:
            raise RuntimeError("EPUBCheck is missing: install Debian's epubcheck package (apt-get install epubcheck)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "epubcheck"]):
            subprocess.run(command, env=env, check=True, capture_output=True, timeout=900)
    return JAR


def epubcheck(path: Path) -> list[Message]:
    """Every message EPUBCheck has about the EPUB at `path`."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        done = subprocess.run(
            # A short-lived JVM: the client compiler and the serial collector halve its CPU time here.
            ["java", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-jar", str(epubcheck_jar()), str(path)]
            + ["--json", str(report)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if not report.exists():
            raise RuntimeError(f"EPUBCheck wrote no report (exit {done.returncode}): {done.stderr[-2000:]}")
        found = json.loads(report.read_text(encoding="utf-8"))
    return [
        Message(
            severity=m.get("severity", ""),
            id=m.get("ID", ""),
            text=m.get("message", ""),
            where="; ".join(f"{loc.get('path')}:{loc.get('line')}" for loc in m.get("locations") or []),
        )
        for m in found.get("messages", [])
    ]


def errors(path: Path) -> list[str]:
    """EPUBCheck's errors about the EPUB at `path` (fatal ones included), each as one line; [] when it passes."""
    return [str(m) for m in epubcheck(path) if m.severity in ("FATAL", "ERROR")]
