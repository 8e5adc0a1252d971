"""Seeing the fleet: log lines and events, Prometheus metrics (per worker and per cluster), and the probes."""
