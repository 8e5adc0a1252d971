"""A finished (or rendering) book's passages and their takes, for a person reviewing it: `narrate takes`."""
