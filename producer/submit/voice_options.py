"""Which voice the user chose: a reference clip with its transcript, a registered voice NAME, or a Fish voice id.

Shared by `narrate submit`, books and batch files; every wrong combination is a
BadInput that says how to fix it.
"""

from __future__ import annotations

from pathlib import Path

from producer.submit.clips import (
    ClipInput,
    NamedVoice,
    PreparedVoice,
    prepare_clip_voice,
)
from producer.submit.voices import VoiceBook
from worker.errors import BadInput
from worker.settings import Settings


def voice_from_options(
    settings: Settings, *, voice: str | None, transcript: str | None, transcript_file: Path | None, voice_id: str | None
) -> PreparedVoice | NamedVoice | str:
    if voice_id and voice:
        raise BadInput("pass either --voice (a clip) or --voice-id (an existing Fish voice), not both")
    if voice_id:
        if transcript or transcript_file:
            raise BadInput("--transcript goes with --voice, not with --voice-id")
        return voice_id
    if voice is None:
        raise BadInput("no voice: pass --voice REF.wav with --transcript, --voice NAME, or --voice-id ID")
    if not Path(voice).exists():
        named = VoiceBook.from_settings(settings).named(voice)
        if named is None:
            raise BadInput(
                f"--voice {voice}: no such file, and no voice registered under that name (see `narrate voices list`)"
            )
        if transcript or transcript_file:
            raise BadInput(f"--voice {voice} is a named voice: its clips carry their own transcripts")
        return named
    if transcript and transcript_file:
        raise BadInput("pass either --transcript or --transcript-file, not both")
    if transcript_file is not None:
        try:
            transcript = transcript_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise BadInput(f"--transcript-file {transcript_file}: cannot be read as UTF-8 text ({exc})") from exc
    if not transcript or not transcript.strip():
        raise BadInput(
            "the transcript is empty: pass the exact words of the clip with --transcript or --transcript-file"
        )
    return prepare_clip_voice([ClipInput(path=Path(voice), transcript=transcript)])
