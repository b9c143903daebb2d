"""A reader who moves away from the microphone, with the real engine: Whisper is given their
speech raised to a speaking level, and writes it down."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.support.audio import SAMPLES, samples_of, write_wav
from tests.support.wer import longest_lost_run, references, word_error_rate
from whisper_automation.transcription import windows
from whisper_automation.transcription.engines import EngineOptions, load_engine
from whisper_automation.transcription.pipeline import transcribe_file
from whisper_automation.transcription.speech import SAMPLE_RATE

pytestmark = pytest.mark.integration
DATA = Path(__file__).resolve().parent.parent / "data"
LJ_CLIPS = sorted((SAMPLES / "lj-speech/chapter-1").iterdir())
FAR_READINGS = [DATA / "cfb_00-203s.mp3", DATA / "cfb_06-first30s.mp3"]


def moving_away(seed: int) -> np.ndarray:
    """LJ Speech's reader at her own level (32 s), then a LibriVox reader 34 dB down (56 s),
    under a fridge's hum and the recorder's hiss (the benchmark's `drop`, in 88 s)."""
    loud = np.concatenate([samples_of(path) for path in LJ_CLIPS])
    far = np.concatenate([samples_of(path) for path in FAR_READINGS]) * 0.02
    audio = np.concatenate([loud, far])
    seconds = np.arange(audio.size) / SAMPLE_RATE
    hum = sum(level * np.sin(2 * np.pi * hertz * seconds)
              for hertz, level in ((50, 0.001), (100, 0.0005), (150, 0.0003)))
    hiss = np.random.default_rng(seed).uniform(-0.001, 0.001, audio.size)
    return (audio + hum + hiss).astype(np.float32)


@pytest.mark.parametrize("raised", [True, False], ids=["raised", "as-recorded"])
def test_a_reader_who_moves_away_is_written_down(raised: bool, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Whisper's input is an absolute log-mel spectrogram: 34 dB down, the far reader reaches
    # the model as a rarer input, and it skips and mishears more of her. Three recorders'
    # hiss, since one 16-bit step of noise moves a single take by points.
    if not raised:
        monkeypatch.setattr(windows, "raised", lambda audio: audio)
    samples = references(SAMPLES / "MANIFEST.tsv")
    data = references(DATA / "MANIFEST.tsv")
    reference = " ".join([*(samples[f"lj-speech/chapter-1/{path.name}"] for path in LJ_CLIPS),
                          *(data[path.name] for path in FAR_READINGS)])
    engine = load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, True, 2))
    rates, lost = [], []
    for seed in (1, 2, 3):
        path = write_wav(tmp_path / f"moving-away-{seed}.wav", moving_away(seed))
        text = transcribe_file(engine, str(path)).text
        rates.append(word_error_rate(reference, text))
        lost.append(longest_lost_run(reference, text))
    # Measured (tiny.en, Intel Xeon): raised 30-36 % WER, at most 11 words in a row lost; as
    # recorded 44-60 %, 24 and 124 words lost (the far reader left out as a quieter voice).
    if raised:
        assert np.mean(rates) < 0.40, (rates, lost)
        assert max(lost) <= 15, (rates, lost)
    else:  # the failure the raise is for: if this passes, the test above proves nothing
        assert np.mean(rates) > 0.43, (rates, lost)
