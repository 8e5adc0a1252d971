"""The only package that imports PyAV: codecs, the FLAC wire form, loudness, streaming assembly."""
