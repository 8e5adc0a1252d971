"""`narrate`: submit narration jobs and follow them; run the local stack and the emulator.

Exit codes: 0 ok, 1 a job failed (or did not finish in time), 2 bad input.
"""

from __future__ import annotations

import json
import sys

import typer

from producer.cli import books as book_cli
from producer.cli import dev as dev_cli
from producer.cli import follow as follow_cli
from producer.cli import gc as gc_cli
from producer.cli import ops as ops_cli
from producer.cli import qc as qc_cli
from producer.cli import say as say_cli
from producer.cli import submit as submit_cli
from producer.cli import takes as takes_cli
from producer.cli import words as words_cli
from producer.cli.metrics import metrics_app
from producer.cli.pipelines import pipelines_app
from producer.cli.voices import voices_app
from worker.contract import job_schema

# Help texts are plain text: brackets such as s3://bucket[/prefix] must print as written, never as Rich markup.
app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, rich_markup_mode=None)
app.add_typer(voices_app, name="voices")
app.add_typer(pipelines_app, name="pipelines")
app.add_typer(metrics_app, name="metrics")

# The commands, in the order `narrate --help` lists them.
submit_cli.register(app)
book_cli.register(app)
ops_cli.register(app)
say_cli.register(app)
words_cli.register(app)
app.command("gc")(gc_cli.gc)
follow_cli.register(app)
qc_cli.register(app)
takes_cli.register(app)


@app.command()
def schema() -> None:
    """Print the JSON Schema of a `narrate.render` job message."""
    print(json.dumps(job_schema(), indent=2))


dev_cli.register(app)


def main() -> None:  # pragma: no cover - console-script entry
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
