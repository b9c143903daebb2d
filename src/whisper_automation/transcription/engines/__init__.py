"""Transcription engines behind one small interface (see base.py)."""

from whisper_automation.transcription.engines.base import Engine, EngineOptions, load_engine

__all__ = ["Engine", "EngineOptions", "load_engine"]
