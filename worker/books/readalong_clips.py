"""A read-along's overlays checked against their audio: the audio's formats and lengths, the clips' times.

Times are kept in whole milliseconds once checked (SMIL clock values carry three decimals), so the durations
written in the package add up exactly.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from worker.audio.codec import probe
from worker.errors import AudioError


@dataclass(frozen=True)
class Clip:
    fragment: str  # the id of the sentence's element in its document, e.g. "narrate-3-0"
    begin: float  # seconds in the audio file
    end: float
    audio: str = ""  # another audio file than its overlay's: a document whose chapter was cut in parts


@dataclass(frozen=True)
class Overlay:
    document: str  # the narrated XHTML document's path inside the zip, e.g. "EPUB/xhtml/chapter-1.xhtml"
    audio: str  # the audio file's name inside the package, e.g. "chapter-01.mp3" (unique per file)
    clips: list[Clip]  # in reading order


# The formats EPUB readers play (EPUB 3 core media types): extension -> media type, and the codecs it may hold.
MEDIA_TYPES = {".mp3": "audio/mpeg", ".m4a": "audio/mp4", ".m4b": "audio/mp4", ".mp4": "audio/mp4"}
_CODECS = {"audio/mpeg": ("mp3", "mp3float"), "audio/mp4": ("aac",)}
_SLACK_MS = 1  # a clip may end this far past the audio's measured end (times rounded to the millisecond)


@dataclass(frozen=True)
class AudioFile:
    name: str  # inside the package, as the overlays name it
    path: Path
    media_type: str
    milliseconds: int


@dataclass(frozen=True)
class TimedClip:
    fragment: str
    begin_ms: int
    end_ms: int
    audio: str  # its audio file's name


def audio_files(audio: Mapping[str, Path], overlays: Sequence[Overlay]) -> dict[str, AudioFile]:
    """Each audio file the overlays use, with its media type and length; ValueError for a caller's mistake."""
    used = {overlay.audio for overlay in overlays} | {c.audio for o in overlays for c in o.clips if c.audio}
    if missing := sorted(used - set(audio)):
        raise ValueError(f"overlays name audio files that were not given: {', '.join(missing)}")
    if unused := sorted(set(audio) - used):
        raise ValueError(f"audio files given that no overlay uses: {', '.join(unused)}")
    return {name: _audio_file(name, Path(audio[name])) for name in sorted(used)}


def _audio_file(name: str, path: Path) -> AudioFile:
    if not name or name != posixpath.basename(name) or "\\" in name or name.startswith("."):
        raise ValueError(f"audio name {name!r} is not a plain file name (it is the file's name inside the package)")
    media_type = MEDIA_TYPES.get(posixpath.splitext(name)[1].lower())
    if media_type is None:
        raise ValueError(
            f"audio {name!r}: EPUB readers play MP3 (.mp3) or AAC in MP4 (.m4a, .m4b, .mp4); name the file so"
        )
    try:
        info = probe(path)
    except AudioError as exc:
        raise ValueError(f"audio {name!r} ({path.name}): {exc}") from exc
    if info.codec not in _CODECS[media_type]:
        raise ValueError(f"audio {name!r} holds {info.codec}, not what its name promises ({media_type})")
    return AudioFile(name, path, media_type, math.floor(info.duration_seconds * 1000))


def timed_clips(overlay: Overlay, files: Mapping[str, AudioFile]) -> list[TimedClip]:
    """The overlay's clips in milliseconds: each non-empty, inside its audio, in order and not overlapping there."""
    if not overlay.clips:
        raise ValueError(f"{overlay.document}: the overlay has no clips")
    timed: list[TimedClip] = []
    for clip in overlay.clips:
        audio = files[clip.audio or overlay.audio]
        where = f"{overlay.document}#{clip.fragment}"
        if not (math.isfinite(clip.begin) and math.isfinite(clip.end)):
            raise ValueError(f"{where}: clip times must be numbers ({clip.begin}, {clip.end})")
        begin, end = round(clip.begin * 1000), round(clip.end * 1000)
        if not 0 <= begin < end:
            raise ValueError(
                f"{where}: the clip must start at 0 s or later and before it ends ({clip.begin}, {clip.end})"
            )
        if end > audio.milliseconds + _SLACK_MS:
            raise ValueError(
                f"{where}: the clip ends at {clip.end} s, past the end of {audio.name} ({audio.milliseconds / 1000} s)"
            )
        if timed and timed[-1].audio == audio.name and begin < timed[-1].end_ms:
            raise ValueError(f"{where}: the clip starts at {clip.begin} s, before the previous one ends")
        timed.append(TimedClip(clip.fragment, begin, end, audio.name))
    return timed


def clock_value(milliseconds: int) -> str:
    """A SMIL full clock value, h:mm:ss.fff (media:duration)."""
    hours, rest = divmod(milliseconds, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    seconds, millis = divmod(rest, 1000)
    return f"{hours}:{minutes:02d}:{seconds:02d}.{millis:03d}"


def timecount(milliseconds: int) -> str:
    """A SMIL timecount value in seconds with three decimals (clipBegin, clipEnd)."""
    return f"{milliseconds // 1000}.{milliseconds % 1000:03d}s"
