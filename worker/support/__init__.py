"""Small helpers any part may use: back-off delays, a lease kept alive, ordered read-ahead, memory, size limits."""
