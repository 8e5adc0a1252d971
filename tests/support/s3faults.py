"""An HTTP proxy in front of the test S3 endpoint that answers chosen requests with S3's own errors, and logs every
request.

S3 itself decides AccessDenied (a bucket policy) and 503 SlowDown; the
endpoint the tests run has no policies, so this stands where they would act.
"""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

ERRORS = {403: "AccessDenied", 503: "SlowDown"}


@dataclass
class Rule:
    method: str
    contains: str  # a part of the request's path (bucket/key), unquoted
    status: int
    times: int | None = None  # None: every time


class S3Faults:
    def __init__(self, target: str) -> None:
        self._target = urlsplit(target)
        self.rules: list[Rule] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll: shutdown() waits for the serving loop to look, up to one poll (0.5 s by default).
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def answer(self, method: str, contains: str, *, status: int, times: int | None = None) -> None:
        with self._lock:
            self.rules.append(Rule(method, contains, status, times))

    def seen(self, method: str, contains: str) -> int:
        return sum(1 for m, path in self.requests if m == method and contains in path)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _rule_for(self, method: str, path: str) -> Rule | None:
        with self._lock:
            self.requests.append((method, path))
            for rule in self.rules:
                if rule.method == method and rule.contains in path and rule.times != 0:
                    rule.times = None if rule.times is None else rule.times - 1
                    return rule
        return None

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rule = proxy._rule_for(self.command, unquote(urlsplit(self.path).path))
                if rule is not None:
                    code = ERRORS.get(rule.status, "InternalError")
                    answer = (
                        '<?xml version="1.0" encoding="UTF-8"?>'
                        f"<Error><Code>{code}</Code><Message>{code}</Message></Error>"
                    ).encode()
                    self.send_response(rule.status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(answer)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(answer)
                    return
                upstream = http.client.HTTPConnection(proxy._target.hostname, proxy._target.port, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                upstream.request(self.command, self.path, body=body, headers=headers)
                reply = upstream.getresponse()
                data = reply.read()
                self.send_response(reply.status)
                for name, value in reply.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                # a HEAD answer's length is the object's, not its (empty) body's
                self.send_header(
                    "Content-Length",
                    reply.getheader("Content-Length", "0") if self.command == "HEAD" else str(len(data)),
                )
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

        return Handler
