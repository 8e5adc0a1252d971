"""One narration job end to end: validation, rendering, its record, held renders, its task."""
