"""`narrate dev`: the embedded local stack and the demo that runs on it."""
