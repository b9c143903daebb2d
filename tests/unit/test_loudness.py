"""Quiet speech raised to a speaking level, for the VAD and for Whisper alike; speech at a
speaking level passed exactly as it is."""

from __future__ import annotations

import numpy as np
import pytest

from tests.support.audio import JFK, samples_of
from whisper_automation.transcription import loudness
from whisper_automation.transcription.speech import SAMPLE_RATE
from whisper_automation.transcription.windows import join_speech


def hissing(audio: np.ndarray, level: float = 1e-4) -> np.ndarray:
    hiss = np.random.default_rng(4).uniform(-level, level, audio.size)
    return (audio + hiss).astype(np.float32)


def speech_level(audio: np.ndarray) -> float:
    return float(np.percentile(loudness.loudness(audio), loudness.LEVEL_PERCENTILE))


def test_speech_at_a_speaking_level_reaches_whisper_exactly_as_recorded() -> None:
    jfk = hissing(samples_of(JFK))
    assert speech_level(jfk) > loudness.QUIET_LEVEL
    assert loudness.raised(jfk) is jfk
    speech, _ = join_speech(jfk, [(0.5, 4.0), (5.0, 10.5)])
    expected = np.concatenate([jfk[8000:64000], jfk[80000:168000]])
    np.testing.assert_array_equal(speech.audio, expected)


def test_quiet_speech_reaches_whisper_raised_to_a_speaking_level() -> None:
    # JFK 50 dB down (a phone across a large room): the engine hears him at QUIET_LEVEL, the
    # same level the VAD hears quiet speech at; nothing else about the samples changes.
    jfk = samples_of(JFK)
    far = hissing(jfk * 0.003)
    speech, _ = join_speech(far, [(0.0, far.size / SAMPLE_RATE)])
    assert speech_level(speech.audio) == pytest.approx(loudness.QUIET_LEVEL, rel=0.15)
    gain = speech.audio / np.where(far == 0, 1, far)
    assert np.median(gain[far != 0]) > 20.0
    assert speech.audio.dtype == np.float32 and speech.audio.size == far.size


def test_no_moment_is_raised_by_more_than_the_most_gain() -> None:
    silence = hissing(np.zeros(20 * SAMPLE_RATE, np.float32), 1e-5)
    louder = loudness.raised(silence)
    assert np.max(np.abs(louder)) <= np.max(np.abs(silence)) * loudness.MAX_GAIN * 1.0001


def test_after_a_step_down_the_quiet_side_is_raised_at_once() -> None:
    # 10 s of speech at -20 dBFS, then 10 s at -60 dBFS, in 100 ms loudness measures: the
    # loud side is heard as it is, the quiet side raised within 0.5 s of the step (its own
    # 0.5 s either side, which still holds the loud side, until then; with the loud side
    # anywhere within 5 s it used to stay unraised for 4 s).
    levels = np.concatenate([np.full(100, 0.1), np.full(100, 0.001)])
    gains = loudness.gains_for(levels, 0, levels.size)
    assert np.all(gains[:100] == 1.0)
    assert np.all(gains[105:] == loudness.MAX_GAIN)
    level_speech = np.full(200, 0.005)  # quiet speech throughout, no step: raised evenly
    assert np.allclose(loudness.gains_for(level_speech, 0, 200), 6.0)




def test_whisper_hears_speech_near_a_speaking_level_as_it_is_and_far_below_it_raised() -> None:
    # The VAD's gains for speech 5, 10, 15, 20 and 29.5 dB below a speaking level: Whisper is
    # given none of the first two (a few dB change its words as much as any level change),
    # 10 dB of the third, and the whole of the rest.
    needed_db = np.array([5.0, 10.0, 15.0, 20.0, 29.5])
    given = loudness.for_whisper(10 ** (needed_db / 20))
    np.testing.assert_allclose(20 * np.log10(given), [0.0, 0.0, 10.0, 20.0, 29.5], atol=1e-9)


def test_the_end_of_what_whisper_is_given_is_no_step_down() -> None:
    # Another reader, 50 dB down, for the last 2 s after the speaker's last words: the side
    # after her is cut short by the end of the recording, so the level does not step there,
    # and Whisper hears her as recorded (raised, base wrote her words). The same voice going
    # on for 22 s after the speaker is a step down, and raised.
    jfk = hissing(samples_of(JFK))
    far = jfk * 0.003
    at_the_end = np.concatenate([jfk, far[:2 * SAMPLE_RATE]])
    assert loudness.raised(at_the_end) is at_the_end
    going_on = np.concatenate([jfk, far, far])
    louder = loudness.raised(going_on)
    middle = slice(jfk.size + 6 * SAMPLE_RATE, jfk.size + 16 * SAMPLE_RATE)
    assert speech_level(louder[middle]) > 10 * speech_level(going_on[middle])
    np.testing.assert_array_equal(louder[:jfk.size - 6 * SAMPLE_RATE],
                                  going_on[:jfk.size - 6 * SAMPLE_RATE])
