"""Readers for what users submit: EPUB, Markdown, plain text and batch files."""
