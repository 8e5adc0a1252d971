"""Reaching Redis: connections (plain, TLS or Sentinel), what the broker holds right now, and work parked in it."""
