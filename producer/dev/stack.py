"""A local stack on loopback: Redis, an S3 endpoint, the Fish emulator, Celery workers.

Used by `narrate dev` and by the test suite, so both exercise the same real
processes. Each service runs as a child process with its log in the work
folder (`producer.dev.services`, started by `producer.dev.starters`), and
`LocalStack` stops everything it started, in reverse order.
"""

from __future__ import annotations

import os
from pathlib import Path

from producer.dev.services import Service, stop_all
from producer.dev.starters import (
    DEV_AWS,
    start_emulator,
    start_flower,
    start_pipelines_beat,
    start_redis,
    start_s3,
    start_worker,
)


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
        """Redis, S3 and the emulator are spawned together, then waited for: their start-ups overlap instead of
        adding up."""
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
        `kill`: the workers' and beats' work is forfeit (interrupted): kill them at once instead of letting them
        finish."""
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
