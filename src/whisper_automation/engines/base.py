"""The engine interface: a loaded model that turns one audio file into whisper's result shape.

result = {"text": str, "language": str, "duration": float,
          "segments": [{"id": int, "start": float, "end": float, "text": str,
                        "words": [...] (optional)}]}
Engines are imported lazily so that a faster-whisper worker never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from ..settings import Settings


class AudioError(Exception):
    """The recording itself cannot be decoded: permanent, retrying will not help."""


@dataclass(frozen=True)
class EngineOptions:
    model: str
    language: str | None
    compute_type: str
    beam_size: int
    vad: bool
    threads: int
    batch_size: int = 0  # faster-whisper's batched pipeline; 0 = file by file

    @classmethod
    def from_settings(cls, settings: Settings, threads: int) -> EngineOptions:
        return cls(model=settings.model, language=settings.language,
                   compute_type=settings.compute_type, beam_size=settings.beam_size,
                   vad=settings.vad, threads=threads, batch_size=settings.batch_size)


class Engine(Protocol):
    name: str
    model: str

    def transcribe(self, audio_path: str) -> dict: ...

    def describe(self) -> dict: ...


BUILT_IN = {
    "faster-whisper": "whisper_automation.engines.faster:FasterWhisperEngine",
    "openai-whisper": "whisper_automation.engines.openai:OpenAIWhisperEngine",
}


def load_engine(spec: str, options: EngineOptions) -> Engine:
    """Load the model once; `spec` is a built-in name or 'package.module:factory'."""
    module_name, _, attribute = BUILT_IN.get(spec, spec).partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory(options)


def result_from_segments(segments: list[dict], language: str, duration: float) -> dict:
    return {
        "text": "".join(segment["text"] for segment in segments),
        "segments": segments,
        "language": language,
        "duration": duration,
    }
