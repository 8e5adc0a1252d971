"""Offline speech for the emulator: espeak-ng through ctypes.

libespeak-ng keeps global state (one voice, one set of parameters, one
callback), so every call into it goes through `_LOCK` and the library is
initialised once, lazily, on first use.
"""

from __future__ import annotations

import ctypes
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import espeakng_loader

from worker.audio.codec import encode_pcm16

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit() inside the library
_CHARS_UTF8 = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4

# Natural ranges for the voice parameters picked from a reference's hash.
_RATE_WPM = (150, 195)
_PITCH = (30, 70)
_RANGE = (30, 70)
_DEFAULT = (175, 50, 50)

_EVENT_LIST_END = 0
_EVENT_WORD = 1


class _Event(ctypes.Structure):
    """espeak_EVENT: what the callback is told besides the samples (we read word starts)."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms
        ("sample", ctypes.c_int),  # the sample the word starts at, counted from the utterance's start
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_void_p),  # a union of int, char* and char[8]
    ]


_CALLBACK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))

_LOCK = threading.Lock()


# (character offset in the text, sample) of each word espeak-ng spoke, in order
WordStarts = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class VoiceParams:
    rate_wpm: int
    pitch: int
    pitch_range: int


# espeak-ng carries synthesis state across utterances (pitch-flutter phase,
# gain control), so identical calls differ by a few samples. Memoising the
# PCM makes identical requests answer identical bytes; the bound keeps
# memory flat under long runs.
_CACHE_MAX_BYTES = 64 * 1024 * 1024
_cache: OrderedDict[tuple[str, VoiceParams], tuple[bytes, WordStarts]] = OrderedDict()
_cache_bytes = 0


class _Engine:
    """The initialised library plus the buffer its callback appends to."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        data_path = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError(f"espeak-ng failed to initialise (code {rate})")
        self.lib = lib
        self.sample_rate = int(rate)
        self._chunks: list[bytes] = []
        self._words: list[tuple[int, int]] = []
        # The library only holds a raw pointer: keep the callback object alive.
        self._callback = _CALLBACK_TYPE(self._on_audio)
        lib.espeak_SetSynthCallback(self._callback)
        if lib.espeak_SetVoiceByName(b"en") != 0:
            raise RuntimeError("espeak-ng has no 'en' voice")

    def _on_audio(self, wav: ctypes.Array[ctypes.c_short], count: int, events: ctypes.Array[_Event]) -> int:
        if count > 0 and wav:
            self._chunks.append(ctypes.string_at(wav, count * 2))
        index = 0
        while events and events[index].type != _EVENT_LIST_END:
            if events[index].type == _EVENT_WORD:
                self._words.append((events[index].text_position - 1, events[index].sample))
            index += 1
        return 0  # 0 = keep synthesising

    def speak(self, text: str, params: VoiceParams) -> tuple[bytes, WordStarts]:
        self._chunks, self._words = [], []
        # Parameters are global: set all of them on every call.
        self.lib.espeak_SetParameter(_PARAM_RATE, params.rate_wpm, 0)
        self.lib.espeak_SetParameter(_PARAM_PITCH, params.pitch, 0)
        self.lib.espeak_SetParameter(_PARAM_RANGE, params.pitch_range, 0)
        encoded = text.encode("utf-8")
        status = self.lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        if status != 0:
            raise RuntimeError(f"espeak-ng could not synthesise (code {status})")
        self.lib.espeak_Synchronize()
        pcm, words = b"".join(self._chunks), tuple(self._words)
        self._chunks, self._words = [], []
        return pcm, words


_engine: _Engine | None = None


def _get_engine() -> _Engine:
    """Return the engine; the caller must hold `_LOCK`."""
    global _engine
    if _engine is None:
        _engine = _Engine()
    return _engine


def voice_params(voice_seed: bytes | None, *, speed: float = 1.0) -> VoiceParams:
    """Deterministic parameters: the same seed always sounds the same."""
    rate, pitch, pitch_range = _DEFAULT
    if voice_seed is not None:
        digest = hashlib.sha256(voice_seed).digest()
        rate = _pick(digest[0:2], _RATE_WPM)
        pitch = _pick(digest[2:4], _PITCH)
        pitch_range = _pick(digest[4:6], _RANGE)
    speed = min(max(speed, 0.5), 2.0)
    return VoiceParams(rate_wpm=round(rate * speed), pitch=pitch, pitch_range=pitch_range)


def _pick(raw: bytes, bounds: tuple[int, int]) -> int:
    low, high = bounds
    return low + int.from_bytes(raw, "big") % (high - low + 1)


def synthesize(text: str, *, voice_seed: bytes | None = None, speed: float = 1.0) -> tuple[bytes, int]:
    """Speak `text`; return (mono s16le PCM, sample rate)."""
    pcm, rate, _ = synthesize_timed(text, voice_seed=voice_seed, speed=speed)
    return pcm, rate


def synthesize_timed(
    text: str, *, voice_seed: bytes | None = None, speed: float = 1.0
) -> tuple[bytes, int, WordStarts]:
    """Speak `text`; return (mono s16le PCM, sample rate, where each word starts)."""
    global _cache_bytes
    params = voice_params(voice_seed, speed=speed)
    key = (text, params)
    with _LOCK:
        engine = _get_engine()
        rate = engine.sample_rate
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
        else:
            cached = _cache[key] = engine.speak(text, params)
            _cache_bytes += len(cached[0])
            while _cache_bytes > _CACHE_MAX_BYTES and len(_cache) > 1:
                _cache_bytes -= len(_cache.popitem(last=False)[1][0])
    pcm, words = cached
    if not pcm:
        # Text made only of punctuation speaks nothing; encoders need some samples.
        pcm = bytes(2 * (rate // 10))
    return pcm, rate, words


def make_reference_clip(text: str) -> bytes:
    """A WAV of espeak speaking `text`, with ~0.3 s of trailing silence."""
    pcm, rate = synthesize(text)
    silence = bytes(2 * int(rate * 0.3))
    return encode_pcm16(pcm + silence, sample_rate=rate, fmt="wav")
