"""narrate workers: `celery -A worker worker` renders narration jobs."""

from worker.celery_app import app

__all__ = ["app"]
