"""Completion webhooks for jobs, batches and books: who may receive them, how they are signed, how they are sent."""
