"""Serve the emulator's app on a socket until SIGTERM or SIGINT."""

from __future__ import annotations

import signal
import threading
from types import FrameType

from werkzeug.serving import WSGIRequestHandler, make_server

from producer.dev.emulator.app import create_app
from producer.dev.emulator.state import EmulatorConfig

__all__ = ["serve"]


class _QuietHandler(WSGIRequestHandler):
    """No access-log line per request: benchmarks send thousands."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


def serve(config: EmulatorConfig) -> None:
    """Serve until SIGTERM or SIGINT; print the listening line once the socket is bound."""
    server = make_server(config.host, config.port, create_app(config), threaded=True, request_handler=_QuietHandler)
    stopping = threading.Event()

    def stop(_signum: int, _frame: FrameType | None) -> None:
        # shutdown() blocks until serve_forever() returns, so it cannot run in this frame.
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(f"fish emulator listening on http://{config.host}:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
