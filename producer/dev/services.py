"""One service of the local stack: a child process with its log, how it is spawned, waited for and stopped.

Each runs in a session of its own (so a worker's pool can be killed with it) and writes its log to
`<name>.log` in the work folder; a service that dies or never becomes ready raises `StackError` with
the tail of that log.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

LOOPBACK = "127.0.0.1"


class StackError(RuntimeError):
    """A local service did not start; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


@dataclass
class Service:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str] = field(default_factory=list)
    is_up: Callable[[], bool] = field(default=lambda: True, repr=False, compare=False)  # its readiness check

    def alive(self) -> bool:
        return self.process.poll() is None

    def wait_ready(self, *, timeout: float = 90) -> Service:
        """Wait until it is up: a service started with `ready=False` is waited for here, once the others are
        spawned too."""
        return _wait_until(self, self.is_up, timeout=timeout)

    def stop(self, *, grace_seconds: float = 10.0) -> None:
        stop_all([self], grace_seconds=grace_seconds)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=5)

    def kill_group(self) -> None:
        """SIGKILL the process and everything it started (a worker and its pool), as a crash would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def restart(self, *, ready: Callable[[], bool], timeout: float = 30) -> Service:
        """Stop gracefully and start again with the same command line (same port, same data)."""
        self.stop()
        self.process, self.log_path = spawn(self.name, self.argv, workdir=self.log_path.parent)
        return _wait_until(self, ready, timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def spawn(
    name: str, argv: list[str], *, workdir: Path, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[bytes], Path]:
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / f"{name}.log"
    log = open(log_path, "ab")
    process = subprocess.Popen(
        argv,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        cwd=workdir,
        env=env,
        start_new_session=True,
    )
    log.close()
    return process, log_path


def _wait_until(service: Service, ready: Callable[[], bool], *, timeout: float) -> Service:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not service.alive():
            raise StackError(f"{service.name} exited during start-up; log {service.log_path}:\n{service.log_tail()}")
        try:
            if ready():
                return service
        except Exception:
            pass
        time.sleep(0.1)
    service.kill()
    raise StackError(
        f"{service.name} did not become ready in {timeout:.0f}s; log {service.log_path}:\n{service.log_tail()}"
    )


def stop_all(services: list[Service], *, grace_seconds: float = 10.0, kill: bool = False) -> None:
    """SIGTERM every one first, then wait for each: their shutdowns overlap instead of adding up.

    `kill`: SIGKILL each one's process group at once instead (its pool's children with it), for
    processes whose work is over or forfeit, such as a finished test's workers.
    """
    running = [s for s in services if s.process.poll() is None]
    for service in running:
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(service.process.pid, signal.SIGKILL)  # its own session: start_new_session
        else:
            service.process.terminate()
    deadline = time.monotonic() + grace_seconds
    for service in running:
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait(timeout=5)
