"""A local emulator of the Fish Audio REST API, for tests and the offline demo.

It answers what the official SDK sends (TTS, voice models) with espeak-ng
speech (or, in tone mode, a sine identifying each text: see tones.py), and
adds `/_emulator/` routes to inject faults and read statistics.
"""

from producer.dev.emulator.app import EmulatorConfig, create_app
from producer.dev.emulator.server import serve

__all__ = ["EmulatorConfig", "create_app", "serve"]
