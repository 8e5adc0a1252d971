"""Freed blocks of a chapter's size go back to the system when the worker holds glibc's mmap threshold."""

import platform
import subprocess
import sys

import pytest

_PROGRAM = """
import sys
import numpy as np
from worker.support.memory import hold_mmap_threshold

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 2**20

if sys.argv[1] == "held":
    assert hold_mmap_threshold()
big = np.ones(8 * 2**20 // 8)  # one large buffer freed: glibc raises its threshold past 1 MB here, unless held
del big
before = rss_mb()
blocks = [np.ones(2**20 // 8) for _ in range(60)]  # sixty 1 MB blocks, as a chapter's threads make and drop them
pin = np.ones(2**20 // 8)  # allocated last: the heap cannot shrink past it
del blocks
print(rss_mb() - before)
"""


def _retained_mb(mode: str) -> float:
    out = subprocess.run([sys.executable, "-c", _PROGRAM, mode], capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc's allocator only")
def test_freed_blocks_are_returned_with_the_threshold_held_and_kept_without() -> None:
    kept, returned = _retained_mb("default"), _retained_mb("held")
    assert kept > 40, f"without the hold the freed blocks stay in the process ({kept:.0f} MB): the case the hold is for"
    assert returned < 10, f"{returned:.0f} MB of freed blocks stayed in the process"


def test_every_worker_holds_it_before_its_pool_forks() -> None:
    from celery import signals

    receivers = [receiver() if callable(receiver) else receiver for _, receiver in signals.worker_init.receivers]
    assert any(getattr(r, "__name__", "") == "_memory" and r.__module__ == "worker.app" for r in receivers), receivers
