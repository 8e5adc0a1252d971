"""narrate workers: `celery -A worker worker` renders narration jobs.

The Celery app (`worker.app.app`) is built when Celery asks for it, not on
`import worker`: a producer in another service that wants only the wire models
(`from worker.contract import RenderJob`) builds no app and needs no settings.
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    """`celery -A worker` reads `worker.app`: the Celery app, made on that first read."""
    if name == "app":
        from worker.app import app

        return app
    raise AttributeError(f"module 'worker' has no attribute {name!r}")


__all__ = ["app"]
