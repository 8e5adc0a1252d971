"""narrate workers: `celery -A worker worker` renders narration jobs."""

from worker.app import app

__all__ = ["app"]
