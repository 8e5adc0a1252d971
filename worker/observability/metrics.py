"""Prometheus metrics of one worker: every pool process counts, the main process serves them (NARRATE_METRICS_PORT).

prometheus-client's multiprocess mode: each process writes its values to files
in PROMETHEUS_MULTIPROC_DIR, which the main process's /metrics reads together.
The folder is made here, before the library is first imported, when the port is
set and the folder is not. Labels stay few: no job ids, no texts.
The cluster's own figures (queues, slots, breaker) come from Redis, once per
cluster: worker.observability.cluster_metrics, behind `narrate metrics serve`.
"""

from __future__ import annotations

import os
import tempfile

if os.environ.get("NARRATE_METRICS_PORT") and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="narrate-metrics-")
if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.makedirs(
        os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True
    )  # the library writes there from its first metric on

import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from wsgiref.simple_server import WSGIRequestHandler, make_server  # noqa: E402

from prometheus_client import (  # noqa: E402
    CollectorRegistry,
    Counter,
    Histogram,
    make_wsgi_app,
    multiprocess,
)
from prometheus_client import values as _values  # noqa: E402
from prometheus_client.exposition import ThreadingWSGIServer  # noqa: E402

if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and not getattr(_values.ValueClass, "_multiprocess", False):
    # The library was imported before the folder was set (Flower's `celery` plugin imports it first):
    # the metrics below must still write to the folder, or the pool processes' counts are lost.
    _values.ValueClass = _values.MultiProcessValue()

JOBS = Counter("narrate_jobs", "Narration jobs by final state.", ["state"])
CHUNKS = Counter(
    "narrate_book_chunks", "Audiobook chunks by outcome: rendered (paid), reused (already in S3), failed.", ["state"]
)
RETRIES = Counter(
    "narrate_retries",
    "Retries by cause: rate_limited, server_error, timeout, storage, slot_wait, credit_wait, other.",
    ["cause"],
)
FISH_REQUESTS = Counter(
    "narrate_fish_requests",
    "Fish TTS requests by voice mode and outcome (ok, or the error class).",
    ["voice_mode", "outcome"],
)
FISH_SECONDS = Histogram(
    "narrate_fish_request_seconds",
    "Latency of Fish TTS requests that returned audio.",
    ["voice_mode"],
    buckets=(0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128),
)
FISH_TEXT_BYTES = Counter(
    "narrate_fish_text_bytes",
    "UTF-8 bytes of text in Fish requests that returned audio (the billed unit).",
    ["voice_mode"],
)
FISH_SPEND = Counter("narrate_fish_spend_usd", "Estimated spend at NARRATE_PRICE_PER_MILLION_BYTES.")
ASR_REQUESTS = Counter(
    "narrate_fish_asr_requests", "Fish speech-to-text requests by outcome (ok, or the error class).", ["outcome"]
)
ASR_AUDIO_SECONDS = Counter(
    "narrate_fish_asr_audio_seconds",
    "Seconds of audio Fish speech-to-text billed (the billed unit: whole seconds a request, rounded up).",
)
ASR_SPEND = Counter("narrate_fish_asr_spend_usd", "Estimated speech-to-text spend at NARRATE_ASR_PRICE_PER_HOUR.")
TAKES_HEARD = Counter(
    "narrate_takes_heard",
    "Takes heard back and judged, by verdict: pass, fail, unheard (too short to hear).",
    ["verdict"],
)
RETAKES = Counter("narrate_retakes", "Takes rendered again because the one before failed its hearing.")
CHUNKS_LEFT_FAILING = Counter(
    "narrate_chunks_left_failing", "Chunks whose chosen take still fails its hearing: a person listens to these."
)
REFERENCE_BYTES = Counter("narrate_reference_bytes_sent", "Bytes of reference audio sent with one-shot requests.")
PROMOTIONS = Counter("narrate_promotions", "Promotions by outcome: trained, relinked, failed.", ["outcome"])
ASSEMBLY_SECONDS = Histogram(
    "narrate_assembly_seconds",
    "Time to assemble one chapter or one book.",
    ["kind"],
    buckets=(1, 2, 5, 10, 20, 30, 60, 120, 300, 600),
)

HEARTBEAT_STALE_SECONDS = 60.0  # no heartbeat for this long: the worker's event loop is stuck


class Health:
    """The main process's heartbeat (Celery sends one every few seconds from its event loop), for /healthz and a
    file."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.file: Path | None = None

    def beat(self) -> None:
        self.last = time.monotonic()
        if self.file is not None:
            try:
                self.file.touch()
            except OSError:
                pass  # a full or read-only disk must not take the worker down

    def alive(self) -> bool:
        return time.monotonic() - self.last < HEARTBEAT_STALE_SECONDS


HEALTH = Health()


def request_outcome(
    *,
    voice_mode: str,
    outcome: str,
    seconds: float = 0.0,
    text_bytes: int = 0,
    reference_bytes: int = 0,
    price_per_million: float = 0.0,
) -> None:
    """One Fish request: `outcome` is "ok" (audio came back, billed) or the error's class."""
    FISH_REQUESTS.labels(voice_mode=voice_mode, outcome=outcome).inc()
    if outcome == "ok":
        FISH_SECONDS.labels(voice_mode=voice_mode).observe(seconds)
        FISH_TEXT_BYTES.labels(voice_mode=voice_mode).inc(text_bytes)
        FISH_SPEND.inc(text_bytes / 1e6 * price_per_million)
        REFERENCE_BYTES.inc(reference_bytes)


def asr_outcome(*, outcome: str, seconds_billed: int = 0, price_per_hour: float = 0.0) -> None:
    """One Fish speech-to-text request: `outcome` is "ok" (heard, billed) or the error's class."""
    ASR_REQUESTS.labels(outcome=outcome).inc()
    if outcome == "ok":
        ASR_AUDIO_SECONDS.inc(seconds_billed)
        ASR_SPEND.inc(seconds_billed / 3600 * price_per_hour)


def serve(port: int, *, host: str = "127.0.0.1") -> ThreadingWSGIServer:
    """/metrics (every process of this worker) and /healthz (the heartbeat), in a daemon thread of the main process.

    Loopback unless told otherwise (NARRATE_METRICS_HOST): the counters and the health answer are for the
    scraper the operator chose, not for everything that can reach the machine.
    """
    folder = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    for stale in folder.glob("*.db"):
        stale.unlink()  # values of a previous run of this worker
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict, start_response):  # noqa: ANN202 - WSGI
        if environ.get("PATH_INFO") == "/healthz":
            ok = HEALTH.alive()
            start_response("200 OK" if ok else "503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"ok\n" if ok else b"no heartbeat\n"]
        return metrics_app(environ, start_response)

    server = make_server(host, port, app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="narrate-metrics", daemon=True).start()
    return server


def process_gone(pid: int) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # a scrape every 15 s is not news
