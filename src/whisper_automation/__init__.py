"""whisper-automation: resumable, parallel transcription of a folder tree of recordings."""

__version__ = "0.1.0"
