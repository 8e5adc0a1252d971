"""Audiobooks: the plan, fan-in state, chunk/chapter/book steps, the reconciler, webhooks, subtitles."""
