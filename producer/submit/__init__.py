"""The Python API for submitters: build jobs and books, upload references once, enqueue in bulk.

    from producer.submit import ClipInput, Submitter, prepare_clip_voice
"""

from producer.submit.clips import (
    ClipInput,
    NamedVoice,
    PreparedVoice,
    prepare_clip_voice,
)
from producer.submit.jobs import SubmitBatch, Submitter, check_format, parse_out

__all__ = ["ClipInput", "NamedVoice", "PreparedVoice", "SubmitBatch", "Submitter", "check_format", "parse_out", "prepare_clip_voice"]
