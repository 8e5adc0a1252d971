"""The `narrate` command: typer commands that parse, call and print."""
