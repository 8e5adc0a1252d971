"""A local emulator of the Fish Audio REST API, for tests and the offline demo.

It answers what the official SDK sends (TTS, voice models) with espeak-ng
speech, and adds `/_emulator/` routes to inject faults and read statistics.
"""

from worker.emulator.app import EmulatorConfig, create_app, serve

__all__ = ["EmulatorConfig", "create_app", "serve"]
