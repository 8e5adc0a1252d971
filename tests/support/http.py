"""One HTTP client for the whole test run.

`httpx.get` and `httpx.post` build a client, and with it a TLS context, on every call: about 60 ms each. The tests
ask the emulator and /metrics thousands of times, often in polling loops; a client kept for the run pays that once.
"""

from __future__ import annotations

import functools

import httpx


@functools.cache
def http() -> httpx.Client:
    return httpx.Client(timeout=10)
