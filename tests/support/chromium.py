"""Headless Chromium from Debian (installed when missing, as root): a page as a real browser engine draws it.

`screenshot(page, out)` renders one local page to a PNG; `pixels(png)` reads it back as RGB rows (PyAV decodes PNG),
so a test can count the pixels of a colour the page's CSS should, or should not, paint.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

import av
import numpy as np


@cache
def chromium() -> str:
    """The browser's path, installing Debian's `chromium` package when it is not there."""
    found = shutil.which("chromium")
    if found:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError("Chromium is missing: install Debian's chromium package (apt-get install chromium)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
        subprocess.run(command, env=env, check=True, capture_output=True, timeout=900)
    return shutil.which("chromium") or "/usr/bin/chromium"


def screenshot(page: Path, out: Path, *, width: int = 900, height: int = 700) -> None:
    """`page` (a local file) as headless Chromium draws it from its top, at `width` x `height`, to the PNG `out`.

    A passage far down a long page needs a tall window: headless screenshots do not follow a #fragment.
    """
    profile = out.parent / f"{out.stem}-profile"
    done = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # tests run as root, where Chromium's sandbox will not start
            "--disable-gpu",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            f"--screenshot={out}",
            page.resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if not out.exists():
        raise RuntimeError(f"Chromium drew nothing (exit {done.returncode}): {done.stderr[-2000:]}")


def pixels(png: Path) -> np.ndarray:
    """The image as rows of RGB pixels (height x width x 3, uint8)."""
    with av.open(str(png)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgb24")


def painted(png: Path, colour: tuple[int, int, int], *, tolerance: int = 6) -> int:
    """How many pixels of the image are `colour` (each channel within `tolerance`)."""
    image = pixels(png).astype(np.int16)
    return int((np.abs(image - np.array(colour, dtype=np.int16)) <= tolerance).all(axis=2).sum())
