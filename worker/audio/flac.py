"""The bytes a one-shot request carries for a reference clip.

A 16-bit PCM WAV clip is sent as FLAC: the same samples, bit for bit, in about
half the bytes, on every one-shot request. The clip's identity (its sha256 in
storage) stays the original file's; only the wire form changes. Anything else
(mp3, m4a, opus, float WAV) is sent as it is: already compressed, or not
representable in FLAC without loss.
"""

from __future__ import annotations

import io

import av
import av.error
import numpy as np

from worker.audio.codec import open_memory_output


def lossless_flac(data: bytes) -> bytes | None:
    """`data` re-encoded as FLAC when it is 16-bit PCM WAV and FLAC is smaller; else None."""
    try:
        flac = _encode_flac(data)
        if flac is None or len(flac) >= len(data):
            return None
        # Lossless or nothing: a decode that differs by one sample keeps the original.
        return flac if np.array_equal(_samples(flac), _samples(data)) else None
    except (av.error.FFmpegError, IndexError, ValueError):
        return None


def _encode_flac(data: bytes) -> bytes | None:
    with av.open(io.BytesIO(data), mode="r") as source:
        stream = source.streams.audio[0]
        codec = stream.codec_context
        if "wav" not in source.format.name or codec.name != "pcm_s16le":
            return None
        out = io.BytesIO()
        with open_memory_output(out, fmt="flac") as sink:
            encoder = sink.add_stream("flac", rate=codec.sample_rate, layout=codec.layout.name, format="s16")
            for frame in source.decode(stream):
                frame.pts = None
                sink.mux(encoder.encode(frame))
            sink.mux(encoder.encode(None))
        return out.getvalue()


def _samples(data: bytes) -> np.ndarray:
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        return np.concatenate([frame.to_ndarray().reshape(-1) for frame in container.decode(stream)])
