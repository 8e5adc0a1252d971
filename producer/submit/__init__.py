"""The Python API for submitters: build jobs and books, upload references once, enqueue in bulk.

    from producer.submit import ClipInput, Submitter, prepare_clip_voice

A `Grant` passed as `Submitter.from_settings(settings, grant=...)` (or to
`BookSubmitter`) bounds what the submitter may reach: output folders, voices,
webhooks and budget; by default there is no bound.
"""

from producer.submit.clips import (
    ClipInput,
    NamedVoice,
    PreparedVoice,
    prepare_clip_voice,
)
from producer.submit.grant import Grant, Refused
from producer.submit.jobs import Submitter, check_format, parse_out
from producer.submit.submit_batch import SubmitBatch

__all__ = [
    "ClipInput",
    "Grant",
    "NamedVoice",
    "PreparedVoice",
    "Refused",
    "SubmitBatch",
    "Submitter",
    "check_format",
    "parse_out",
    "prepare_clip_voice",
]
