"""A real engine wrapped for tests: every recording it is given is appended to a log,
optionally slowed down.

Used as `WA_ENGINE=tests.support.counting_engine:CountingEngine` (the engine setting accepts
'package.module:factory'), so tests count how often each file was really transcribed by the
real faster-whisper engine, in any worker process.
Env: WA_TEST_ENGINE_LOG (file to append to), WA_TEST_ENGINE_DELAY (seconds added per call),
WA_TEST_INNER_ENGINE (the wrapped engine, default faster-whisper).

An engine only ever sees windows of speech; the worker drives the pipeline
(pipeline.transcribe_file(engine, path)). So that a double can see whole recordings, loading it
wraps that function once in the worker's process: each recording is announced to the engine's
`before_file(path)`, then transcribed as usual.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from whisper_automation.transcription.engines.base import EngineOptions, load_engine

# tests/support/stack.py, a pytest plugin, imports this module: the pipeline (numpy, the VAD)
# is imported only in a process that loads this engine.
if TYPE_CHECKING:
    from whisper_automation.transcription.speech import Result, Speech, Transcript


def announce_files_to_engines() -> None:
    """Wrap pipeline.transcribe_file (once per process) so that an engine with a
    `before_file(path)` hears of each recording before its windows are transcribed."""
    from whisper_automation.transcription import pipeline

    transcribe_file: Callable[..., Result] = pipeline.transcribe_file
    if getattr(transcribe_file, "announces_files", False):
        return

    def announcing(engine: object, audio_path: str) -> Result:
        before_file = getattr(engine, "before_file", None)
        if before_file is not None:
            before_file(audio_path)
        return transcribe_file(engine, audio_path)

    announcing.announces_files = True  # type: ignore[attr-defined]
    pipeline.transcribe_file = announcing  # type: ignore[assignment]


class CountingEngine:
    def __init__(self, options: EngineOptions) -> None:
        self._inner = load_engine(os.environ.get("WA_TEST_INNER_ENGINE", "faster-whisper"),
                                  options)
        self.name = self._inner.name
        self.model = self._inner.model
        self.options = self._inner.options
        self.clips_apart = self._inner.clips_apart
        self._log = os.environ["WA_TEST_ENGINE_LOG"]
        self._delay = float(os.environ.get("WA_TEST_ENGINE_DELAY", "0"))
        announce_files_to_engines()

    def describe(self) -> dict:
        return self._inner.describe()

    def before_file(self, audio_path: str) -> None:
        with open(audio_path, "rb") as audio:
            digest = hashlib.sha256(audio.read()).hexdigest()  # names an S3 object's download
        with open(self._log, "a", encoding="utf-8") as log:
            # JSON per line: file names may contain tabs and newlines.
            log.write(json.dumps({"pid": os.getpid(), "path": audio_path,
                                  "sha256": digest}) + "\n")
        time.sleep(self._delay)
        inner_before_file = getattr(self._inner, "before_file", None)
        if inner_before_file is not None:
            inner_before_file(audio_path)

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        return self._inner.transcribe_speech(speech, prompt, language, beam_size)


def read_call_entries(log_path: str | os.PathLike) -> list[dict]:
    """One {"pid", "path", "sha256"} per engine call, in order."""
    try:
        with open(log_path, encoding="utf-8") as log:
            return [json.loads(line) for line in log if line.strip()]
    except FileNotFoundError:
        return []


def read_calls(log_path: str | os.PathLike) -> list[str]:
    """The audio paths transcribed, one entry per engine call."""
    return [entry["path"] for entry in read_call_entries(log_path)]
