"""The faster-whisper engine's own parts, with the real tiny.en model."""

from __future__ import annotations

import numpy as np
import pytest
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

from tests.support.audio import SAMPLES
from whisper_automation.engines.faster import ClipByClipEncoderModel
from whisper_automation.engines.models import resolve_faster_whisper_model

pytestmark = pytest.mark.integration
CLIP_SAMPLES = 30 * 16000


def features_of_two_clips(model: WhisperModel) -> np.ndarray:
    """A batch of two different 30 s clips, as the batched pipeline hands it to the encoder."""
    audio = np.concatenate([decode_audio(str(SAMPLES / "speeches/jfk.flac"))] * 6)
    clips = [audio[:CLIP_SAMPLES], audio[CLIP_SAMPLES // 3:CLIP_SAMPLES // 3 + CLIP_SAMPLES]]
    return np.stack([model.feature_extractor(clip)[:, :3000] for clip in clips])


def test_clip_by_clip_encoding_gives_the_batched_encoders_output() -> None:
    path = resolve_faster_whisper_model("tiny.en")
    batched = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=1)
    clip_by_clip = ClipByClipEncoderModel(path, device="cpu", compute_type="int8", cpu_threads=1)
    features = features_of_two_clips(batched)

    together = np.array(batched.encode(features))
    one_by_one = np.array(clip_by_clip.encode(features))

    assert one_by_one.shape == together.shape == (2, 1500, 384)
    assert not np.allclose(one_by_one[0], one_by_one[1])  # two different clips, kept apart
    np.testing.assert_allclose(one_by_one, together, atol=1e-3, rtol=1e-3)
