"""A real engine wrapped for tests: every call is appended to a log, optionally slowed down.

Used as `WA_ENGINE=tests.support.counting_engine:CountingEngine` (the engine setting accepts
'package.module:factory'), so tests count how often each file was really transcribed by the
real faster-whisper engine, in any worker process.
Env: WA_TEST_ENGINE_LOG (file to append to), WA_TEST_ENGINE_DELAY (seconds added per call),
WA_TEST_INNER_ENGINE (the wrapped engine, default faster-whisper).
"""

from __future__ import annotations

import hashlib
import json
import os
import time

from whisper_automation.engines.base import EngineOptions, load_engine


class CountingEngine:
    def __init__(self, options: EngineOptions) -> None:
        self._inner = load_engine(os.environ.get("WA_TEST_INNER_ENGINE", "faster-whisper"),
                                  options)
        self.name = self._inner.name
        self.model = self._inner.model
        self._log = os.environ["WA_TEST_ENGINE_LOG"]
        self._delay = float(os.environ.get("WA_TEST_ENGINE_DELAY", "0"))

    def describe(self) -> dict:
        return self._inner.describe()

    def transcribe(self, audio_path: str) -> dict:
        with open(audio_path, "rb") as audio:
            digest = hashlib.sha256(audio.read()).hexdigest()  # names an S3 object's download
        with open(self._log, "a", encoding="utf-8") as log:
            # JSON per line: file names may contain tabs and newlines.
            log.write(json.dumps({"pid": os.getpid(), "path": audio_path,
                                  "sha256": digest}) + "\n")
        time.sleep(self._delay)
        return self._inner.transcribe(audio_path)


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
