"""Reference identity, the registry and use counting, promotion, and who speaks a request."""
