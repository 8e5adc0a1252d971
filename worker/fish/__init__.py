"""The only package that imports the `fishaudio` SDK: the TTS and speech-to-text client, voice models, the
cluster-wide slot cap, the credit breaker."""
