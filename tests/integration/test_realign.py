"""Each engine's aligner: words with wrong times, aligned again with their audio, get the
times the engine gives them when it decodes that audio itself (realign.py)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.audio import JFK, samples_of
from whisper_automation.transcription.engines import EngineOptions, load_engine
from whisper_automation.transcription.speech import Speech

pytestmark = pytest.mark.integration


@pytest.fixture(params=["faster-whisper", "openai-whisper"])
def engine(request: pytest.FixtureRequest):
    if request.param == "openai-whisper":
        model = str(request.getfixturevalue("openai_checkpoint"))
        return load_engine("openai-whisper", EngineOptions(model, "en", "float32", 5, False, 1))
    return load_engine("faster-whisper", EngineOptions("tiny.en", "en", "int8", 5, False, 1))


def test_words_a_second_late_get_their_times_back_when_aligned_again(engine) -> None:
    audio = samples_of(JFK)  # 11 s: one input, as a clip is
    decoded = engine.transcribe_speech(Speech(audio, [(0.0, len(audio) / 16000)]), "", "en")
    groups = [segment.words for segment in decoded.segments]
    late = [[replace(word, start=word.start + 1.0, end=word.end + 1.0) for word in group]
            for group in groups]

    timed = engine.align_words(audio, late, "en")

    assert timed is not None
    pairs = [(word, again) for group, again_group in zip(groups, timed, strict=True)
             for word, again in zip(group, again_group, strict=True)]
    assert len(pairs) >= 20 and all(word.word == again.word for word, again in pairs)
    assert all(abs(again.start - word.start) <= 0.1 and abs(again.end - word.end) <= 0.1
               for word, again in pairs), [(w.word, w.start, a.start) for w, a in pairs]


def test_text_the_aligner_splits_into_other_words_keeps_the_times_it_had(engine) -> None:
    audio = samples_of(JFK)
    decoded = engine.transcribe_speech(Speech(audio, [(0.0, len(audio) / 16000)]), "", "en")
    group = decoded.segments[0].words[:2]
    group[0] = replace(group[0], word=" ask-not")  # one word here, two for the aligner
    assert engine.align_words(audio, [group], "en") is None
