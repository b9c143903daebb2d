"""The faster-whisper engine's own parts, with the real tiny.en model."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from faster_whisper import WhisperModel
from faster_whisper.audio import decode_audio

from tests.support.audio import SAMPLES
from whisper_automation.transcription.engines.faster import ClipByClipEncoderModel
from whisper_automation.transcription.engines.models import resolve_faster_whisper_model

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


def test_a_window_of_one_clip_is_decoded_by_the_sequential_decoder() -> None:
    # Batching one clip buys nothing, and the sequential decoder (timestamps, context, fallback)
    # is whisper-ctranslate2's: the batched engine must give it exactly the sequential output.
    from whisper_automation.transcription.engines import EngineOptions, load_engine
    from whisper_automation.transcription.speech import Speech

    audio = decode_audio(str(SAMPLES / "speeches/jfk.flac"))
    speech = Speech(audio, [(0.0, audio.size / 16000)])
    engines = [load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, True, 1,
                                                           batch_size=size)) for size in (4, 0)]
    batched, sequential = (engine.transcribe_speech(speech, "", "en") for engine in engines)
    assert len(sequential.segments) >= 2  # timestamps: it is cut into sentences
    assert batched.segments == sequential.segments


def test_a_clip_aligned_again_reuses_its_windows_encoder_output(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # realign.py aligns a clip again after a retry; the encoder is most of that cost, and the
    # window's decoding already encoded the clip (the same features, the same output).
    from whisper_automation.transcription.engines import EngineOptions, load_engine
    from whisper_automation.transcription.speech import Speech

    jfk = decode_audio(str(SAMPLES / "speeches/jfk.flac"))
    sentence = decode_audio(str(SAMPLES / "lj-speech/chapter-1/LJ001-0001.flac"))
    audio = np.concatenate([jfk, sentence])
    half, whole = jfk.size / 16000, audio.size / 16000
    engine = load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, True, 1,
                                                         batch_size=4))
    decoded = engine.transcribe_speech(Speech(audio, [(0.0, half), (half, whole)]), "", "en")
    assert len(engine._model.kept) == 2  # one output per clip of the window
    second = [[replace(word, start=word.start - half, end=word.end - half)
               for word in segment.words] for segment in decoded.segments
              if segment.start >= half]
    clip = audio[int(half * 16000):]
    encoded = []
    encode = WhisperModel.encode
    monkeypatch.setattr(WhisperModel, "encode",
                        lambda model, features: encoded.append(1) or encode(model, features))

    reused = engine.align_words(clip, second, "en")
    assert encoded == []
    engine._model.kept.clear()
    fresh = engine.align_words(clip, second, "en")
    assert encoded == [1]

    assert reused is not None and len(reused) == len(second) >= 1
    assert reused == fresh


class LendsOne:
    """A CPU pool with one idle CPU (jobs/cores.py), counting its loans."""

    def __init__(self) -> None:
        self.loans = 0

    def borrow(self, most: int):
        from contextlib import nullcontext

        self.loans += 1
        return nullcontext(min(1, most))


def test_a_borrowed_cpu_decodes_batches_of_the_window_with_the_same_words() -> None:
    from whisper_automation.transcription.engines import EngineOptions, load_engine
    from whisper_automation.transcription.speech import Speech

    audio = np.concatenate([decode_audio(str(SAMPLES / "speeches/jfk.flac"))] * 12)  # 132 s
    clips = [(start, min(start + 11.0, audio.size / 16000)) for start in range(0, 132, 11)]
    speech = Speech(audio, clips)  # 12 clips: 6 batches of 2
    alone = load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, True, 1,
                                                        batch_size=2))
    lending = load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, True, 1,
                                                          batch_size=2, spare_threads=1))
    lending.lender = LendsOne()
    groups: list[int] = []
    decode_batch = lending._decode_batch
    lending._decode_batch = lambda group, *rest: groups.append(group) or \
        decode_batch(group, *rest)

    one, two = (engine.transcribe_speech(speech, "", "en") for engine in (alone, lending))
    assert len(groups) == 6 and set(groups) == {0, 1}  # its own group and the borrowed one
    assert lending.lender.loans >= groups.count(1)  # a loan asked for before each batch
    assert [word.word for segment in two.segments for word in segment.words] == \
        [word.word for segment in one.segments for word in segment.words]


def test_a_batched_clip_that_fails_whispers_test_is_decoded_again_on_the_windows_clock(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # No clip of the corpus fails the test (tiny.en's batched clips: mean log-probability
    # -0.63 at worst, on audio made to sound like a bad phone), so the threshold is raised
    # until every clip fails it: each must come back from the sequential decoder whole, with
    # its words on the window's clock, inside its own clip.
    from whisper_automation.transcription.engines import EngineOptions, faster, load_engine
    from whisper_automation.transcription.speech import Speech

    jfk = decode_audio(str(SAMPLES / "speeches/jfk.flac"))
    seconds = jfk.size / 16000
    speech = Speech(np.concatenate([jfk] * 3), [(i * seconds, (i + 1) * seconds)
                                                for i in range(3)])
    engine = load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, True, 1,
                                                         batch_size=4))
    again: list[tuple[float, float]] = []
    decode_clip_again = engine._decode_clip_again
    engine._decode_clip_again = lambda speech, clip, *rest: again.append(clip) or \
        decode_clip_again(speech, clip, *rest)
    monkeypatch.setattr(faster, "LOG_PROB_THRESHOLD", 1.0)

    transcript = engine.transcribe_speech(speech, "", "en")

    assert again == speech.clips
    text = " ".join(segment.text for segment in transcript.segments).lower()
    assert text.count("ask not what your country can do for you") == 3, text
    for start, end in speech.clips:
        words = [word for segment in transcript.segments for word in segment.words
                 if start <= word.start < end]
        assert "country" in " ".join(word.word for word in words).lower()
        assert all(word.end <= end + 0.5 for word in words)


SAMPLED_DECODING = """
import sys
from faster_whisper.audio import decode_audio
from whisper_automation.transcription.engines import EngineOptions, load_engine
engine = load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, True, 1))
audio = decode_audio(sys.argv[1])
# What Whisper's temperature fallback does: sample 5 candidates at a high temperature.
pieces, _ = engine._model.transcribe(audio, language="en", temperature=[1.0], best_of=5)
print("".join(piece.text for piece in pieces))
"""


def test_the_temperature_fallback_samples_the_same_words_in_every_run() -> None:
    # Each process would seed CTranslate2's random generators at random: two runs of the same
    # code on the same recording wrote different words where Whisper fell back to sampling.
    import subprocess
    import sys

    runs = [subprocess.run([sys.executable, "-c", SAMPLED_DECODING,
                            str(SAMPLES / "speeches/jfk.flac")],
                           capture_output=True, text=True, check=True, timeout=300).stdout
            for _ in range(3)]
    assert runs[0].strip()
    assert runs[0] == runs[1] == runs[2]
