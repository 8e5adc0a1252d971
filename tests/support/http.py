"""One HTTP client for the whole test run, and one TLS context for every httpx client the run's process makes.

`httpx.get` and `httpx.post` build a client, and with it a TLS context, on every call: about 60 ms each. The tests
ask the emulator and /metrics thousands of times, often in polling loops; a client kept for the run pays that once.
The code under test builds its own clients (a Fish SDK client for each FishClient, a webhook sender's): each loads
the CA bundle into a new TLS context, about 30 ms, well over a hundred times in the fast loop alone. A TLS context
is made to be shared, so those made with httpx's defaults share one (a fixture for the whole run).
"""

from __future__ import annotations

import functools
import os
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import httpx._transports.default as transports
import pytest


@functools.cache
def http() -> httpx.Client:
    return httpx.Client(timeout=10)


@pytest.fixture(scope="session", autouse=True)
def _tls_context_made_once() -> Iterator[None]:
    made = transports.create_ssl_context
    shared: dict[tuple[str | None, str | None], ssl.SSLContext] = {}

    def create_ssl_context(verify: Any = True, cert: Any = None, trust_env: bool = True) -> ssl.SSLContext:
        if verify is not True or cert is not None or trust_env is not True:
            return made(verify=verify, cert=cert, trust_env=trust_env)
        where = (os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))  # what the default reads
        if where not in shared:
            shared[where] = made(verify=verify, cert=cert, trust_env=trust_env)
        return shared[where]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(transports, "create_ssl_context", create_ssl_context)
        yield
