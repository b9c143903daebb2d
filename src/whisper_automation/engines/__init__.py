"""Transcription engines behind one small interface (see base.py)."""

from .base import AudioError, Engine, EngineOptions, load_engine

__all__ = ["AudioError", "Engine", "EngineOptions", "load_engine"]
