"""What other programs rely on, read from the code as it runs: task names and queues, Redis and S3 keys, the JSON
schemas of the wire models, the settings, and the CLI's commands and options.

`python -m tests.repo.wire_snapshot > tests/repo/wire_contract.json` records it; test_wire_contract.py compares the
code with the record, so a change to any of it is a decision made in a diff, never a side effect of a refactor.
"""

from __future__ import annotations

import inspect
import json
import sys
from typing import Any

import click
from pydantic import BaseModel
from typer.main import get_command


def tasks_and_queues() -> dict[str, Any]:
    from producer.pipelines.tasks import app as pipelines_app
    from worker.app import app as worker_app

    found = {}
    for name, app in (("worker", worker_app), ("pipelines", pipelines_app)):
        app.loader.import_default_modules()
        found[name] = {
            "tasks": sorted(t for t in app.tasks if t.startswith("narrate.")),  # not celery.*, nor tests' own
            "default_queue": app.conf.task_default_queue,
            "queues": sorted(q.name for q in app.conf.task_queues or ()),
            "routes": {task: dict(route) for task, route in sorted((app.conf.task_routes or {}).items())},
            "beat": {entry: dict(spec)["task"] for entry, spec in sorted((app.conf.beat_schedule or {}).items())},
        }
    return found


SAMPLES = {"int": 7, "float": 1.5, "bytes": b"sample"}


def keys() -> dict[str, str]:
    """Every key function, every parameter given: a string parameter its own name (`job_record(job_id)`)."""
    from worker import keys as module

    def sample(param: inspect.Parameter) -> Any:
        annotation = str(param.annotation)
        if annotation.startswith("dict"):
            return {"text": "sample", "speed": 1.0}
        return SAMPLES.get(annotation, param.name)

    found = {}
    for name, function in sorted(inspect.getmembers(module, inspect.isfunction)):
        if function.__module__ != module.__name__ or name.startswith("_"):
            continue
        params = inspect.signature(function).parameters
        positional = [sample(p) for p in params.values() if p.kind is not inspect.Parameter.KEYWORD_ONLY]
        named = {p.name: sample(p) for p in params.values() if p.kind is inspect.Parameter.KEYWORD_ONLY}
        found[name] = str(function(*positional, **named))
    return found


def schemas() -> dict[str, Any]:
    import worker.contract as contract

    models = {
        name: value
        for name, value in vars(contract).items()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__.startswith("worker.contract")
        and not name.startswith("_")
    }
    return {name: models[name].model_json_schema() for name in sorted(models)}


def settings() -> dict[str, Any]:
    from worker.settings import Settings

    return {name: repr(field.default) for name, field in sorted(Settings.model_fields.items())}


def cli() -> dict[str, Any]:
    from producer.cli.main import app

    def walk(command: click.Command, path: str) -> dict[str, Any]:
        found: dict[str, Any] = {
            path: sorted(
                "/".join(sorted(p.opts + p.secondary_opts)) if isinstance(p, click.Option) else f"<{p.name}>"
                for p in command.params
            )
        }
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found.update(walk(sub, f"{path} {name}"))
        return found

    return walk(get_command(app), "narrate")


def snapshot() -> dict[str, Any]:
    return {"tasks": tasks_and_queues(), "keys": keys(), "schemas": schemas(), "settings": settings(), "cli": cli()}


if __name__ == "__main__":
    json.dump(snapshot(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
