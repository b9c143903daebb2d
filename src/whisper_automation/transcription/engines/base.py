"""The engine interface: a loaded model that turns one window of speech into timed segments.

An engine does one thing: `transcribe_speech(speech, prompt, language)` on a window of speech
(16 kHz mono float32, silences already removed by the pipeline's VAD), plus `describe()` and its
options. Everything about whole recordings - decoding in bounded windows, voice activity
detection, putting the timestamps back on the recording's own clock, finding and recovering
speech the model skipped - is the pipeline's job (pipeline.transcribe_file, driven by the
worker), the same for every engine. The types both sides share live below them, in speech.py.
Engines are imported lazily so that a faster-whisper worker never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Protocol

from whisper_automation.settings import Settings
from whisper_automation.transcription.speech import AUTO_BEAM_SHORT, SpeechEngine


@dataclass(frozen=True)
class EngineOptions:
    model: str
    language: str | None
    compute_type: str
    beam_size: int  # 0 = auto: chosen per recording by its length (auto_beam_size)
    vad: bool
    threads: int
    batch_size: int = 0  # faster-whisper's batched pipeline; 0 = file by file
    window_seconds: float = 300.0  # the pipeline's window: bounds memory (see pipeline.py)
    recover_seconds: float = 2.0  # speech with no word this long is transcribed again; 0 = off
    # ... unless it is this many dB below the voice around it (another voice); 0 = retry it too
    quieter_voice_db: float = 10.0
    device: str = "cpu"  # as chosen by devices.resolve_device: cpu or cuda:N, never auto
    # CPUs a worker may borrow beyond its own `threads` while its neighbours idle (WA_CPU_POOL):
    # a batched engine prepares that many more decoding groups of one thread each.
    spare_threads: int = 0

    @classmethod
    def from_settings(cls, settings: Settings, threads: int) -> EngineOptions:
        return cls(model=settings.model, language=settings.language,
                   compute_type=settings.compute_type, beam_size=settings.beam_size,
                   vad=settings.vad, threads=threads, batch_size=settings.batch_size,
                   window_seconds=settings.window_seconds,
                   recover_seconds=settings.recover_seconds,
                   quieter_voice_db=settings.quieter_voice_db)


class Engine(SpeechEngine, Protocol):
    """A loaded model: one window of speech at a time (SpeechEngine), and what it is."""

    name: str
    model: str
    options: EngineOptions

    def describe(self) -> dict: ...


def beam_width(requested: int, options: EngineOptions) -> int:
    """The beam for one call: the pipeline's choice for this recording, else the engine's
    option, auto (0) counting as the short-recording beam when nothing chose for it."""
    return requested or options.beam_size or AUTO_BEAM_SHORT


def describe_engine(name: str, options: EngineOptions, **specific: object) -> dict:
    """What a done record and a worker's presence say about how it transcribes: the options
    every engine shares, then what is the engine's own."""
    return {"engine": name, "model": options.model, "device": options.device,
            "beam_size": options.beam_size,
            "vad": options.vad, "threads": options.threads,
            "window_seconds": options.window_seconds,
            "recover_seconds": options.recover_seconds,
            "quieter_voice_db": options.quieter_voice_db, **specific}


BUILT_IN = {
    "faster-whisper": "whisper_automation.transcription.engines.faster:FasterWhisperEngine",
    "openai-whisper": "whisper_automation.transcription.engines.openai:OpenAIWhisperEngine",
    "whisper.cpp": "whisper_automation.transcription.engines.whispercpp:WhisperCppEngine",
}


def load_engine(spec: str, options: EngineOptions) -> Engine:
    """Load the model once; `spec` is a built-in name or 'package.module:factory'."""
    module_name, _, attribute = BUILT_IN.get(spec, spec).partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory(options)
