"""Audio made for tests from the bundled public-domain speech: joins with pauses of known length."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from whisper_automation.transcription.audio import stream_samples
from whisper_automation.transcription.speech import SAMPLE_RATE

SAMPLES = Path(__file__).resolve().parent.parent.parent / "samples"
JFK = SAMPLES / "speeches/jfk.flac"


def samples_of(path: Path) -> np.ndarray:
    return np.concatenate(list(stream_samples(str(path))))


def write_wav(path: Path, audio: np.ndarray) -> Path:
    """16 kHz mono 16-bit PCM."""
    pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.tobytes())
    return path


def join_with_pauses(pieces: list[np.ndarray], pause_seconds: float
                     ) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """The pieces one after another with silence between; also where each pause lies (s)."""
    silence = np.zeros(int(pause_seconds * SAMPLE_RATE), dtype=np.float32)
    parts: list[np.ndarray] = []
    pauses: list[tuple[float, float]] = []
    position = 0
    for index, piece in enumerate(pieces):
        parts.append(piece)
        position += piece.size
        if index < len(pieces) - 1:
            parts.append(silence)
            pauses.append((position / SAMPLE_RATE, (position + silence.size) / SAMPLE_RATE))
            position += silence.size
    return np.concatenate(parts), pauses
