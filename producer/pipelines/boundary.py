"""A pipeline is a boundary: the grant its inbox's files are held to.

Whoever can write to a pipeline's inbox can name, in a batch file or a sidecar,
files to read, folders to write to, voices, a budget and a webhook. The
pipeline's own settings are the operator's and are trusted; what its files
name is checked against this grant before anything of it is read:

- reads (`file`, `transcript_file`, `lexicon`, a `voice` or `clip` clip): under
  `sources`, by default the inbox (or the recurring object's folder) and `out`;
- writes (an entry's `out`): under `outputs`, by default `out`;
- voices (a named `voice`, a `voice_id`): those in `voices`, by default the pipeline's own;
- a sidecar's `budget`: at most the pipeline's; its `notify`: only under `notify_allowed`;
- files on the pipelines service's own disk: never.
"""

from __future__ import annotations

from producer.pipelines.config import Pipeline
from producer.submit.grant import Grant, folder


def grant_for(pipeline: Pipeline) -> Grant:
    """The pipeline's grant: its own fields where set, the defaults above where not."""
    outputs = pipeline.outputs if pipeline.outputs is not None else [fixed_folder(pipeline.out)]
    if pipeline.sources is not None:
        sources = pipeline.sources
    else:
        watched = pipeline.inbox or (pipeline.recurring or "").rsplit("/", 1)[0]
        sources = [watched, fixed_folder(pipeline.out)]
    own = [v for v in (pipeline.voice, pipeline.voice_id) if v]
    return Grant(
        sources=tuple(sources),
        outputs=tuple(outputs),
        voices=frozenset(pipeline.voices if pipeline.voices is not None else own),
        budget_usd=pipeline.budget,
        notify=tuple(pipeline.notify_allowed),
        local_paths=False,
    )


def fixed_folder(out: str) -> str:
    """The folder of `out` that every run writes under: `s3://news/audio/{date}/` → `s3://news/audio/`."""
    if "{" not in out:
        return folder(out)
    fixed = out[: out.index("{")]
    return folder(fixed[: fixed.rindex("/") + 1] if fixed.count("/") > 2 else fixed)
