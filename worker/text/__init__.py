"""Text before it reaches Fish: normalization and chunking. Pure functions, no I/O."""
