"""Windows: a long recording in bounded pieces cut at pauses, joined speech and its clock."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.support.audio import JFK, SAMPLES, join_with_pauses, samples_of
from whisper_automation.transcription.speech import SAMPLE_RATE
from whisper_automation.transcription.windows import (
    TimeMap,
    Window,
    choose_cut,
    cut_windows,
    group_clips,
    join_speech,
)


@pytest.fixture(scope="module")
def speech_with_pauses() -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Eighteen times JFK's 11 s sentence with 3 s pauses: 250 s with known pauses."""
    return join_with_pauses([samples_of(JFK)] * 18, pause_seconds=3.0)


def blocks(audio: np.ndarray, seconds: float = 7.0):
    size = int(seconds * SAMPLE_RATE)
    for start in range(0, audio.size, size):
        yield audio[start:start + size]


def test_windows_put_back_together_are_the_whole_recording(speech_with_pauses) -> None:
    audio, _ = speech_with_pauses
    windows = list(cut_windows(blocks(audio), window_seconds=60))
    assert len(windows) >= 4
    assert np.array_equal(np.concatenate([window.audio for window in windows]), audio)
    for before, after in itertools.pairwise(windows):
        assert after.offset == pytest.approx(before.offset + before.seconds, abs=1e-6)


def test_every_cut_lies_inside_a_pause_and_no_window_is_longer_than_asked(
        speech_with_pauses) -> None:
    audio, pauses = speech_with_pauses
    windows = list(cut_windows(blocks(audio), window_seconds=60))
    for window in windows:
        assert window.seconds <= 60
    for window in windows[1:]:
        assert any(start < window.offset < end for start, end in pauses), window.offset


def test_speech_regions_are_inside_their_window_and_skip_the_pauses(speech_with_pauses) -> None:
    audio, _pauses = speech_with_pauses
    for window in cut_windows(blocks(audio), window_seconds=60):
        for start, end in window.regions:
            assert 0 <= start < end <= window.seconds + 1e-6
        speech = sum(end - start for start, end in window.regions)
        assert speech < window.seconds  # the 3 s pauses are (mostly) left out


def test_cut_is_the_middle_of_the_longest_pause_near_the_end() -> None:
    pauses = [(40.0, 41.0), (50.0, 53.0), (59.0, 60.0)]
    assert choose_cut(pauses, 60.0) == pytest.approx(51.5)


def test_cut_without_any_pause_is_the_window_end() -> None:
    assert choose_cut([], 60.0) == 60.0
    # The only pause (20-120 s) has its middle far from the end: no cut inside it.
    assert choose_cut([(20.0, 120.0)], 120.0) == 120.0


def test_cut_ignores_pauses_far_from_the_end() -> None:
    # A 120 s window looks at its last 30 s only (a quarter), so the long early pause loses.
    assert choose_cut([(10.0, 40.0), (70.0, 71.0), (89.0, 120.0)], 120.0) == pytest.approx(104.5)


def test_a_window_ends_in_the_readers_breath_not_between_two_words() -> None:
    # Real sentences read without the 2 s pauses the VAD's regions part at: 0.15 s between
    # most of them (as between words), one breath of 0.7 s in the window's last quarter. The
    # VAD splits this speech only where a region reaches 30 s, at whichever short gap comes;
    # a cut there ended the engine's input mid-phrase.
    clips = [samples_of(path) for path in sorted((SAMPLES / "lj-speech/chapter-1").iterdir())]
    gap, breath = np.zeros(int(0.15 * SAMPLE_RATE), np.float32), np.zeros(
        int(0.7 * SAMPLE_RATE), np.float32)
    pieces, position, breath_at = [], 0.0, None
    for clip in clips * 10:
        pause = gap
        if breath_at is None and position > 100.0:
            pause, breath_at = breath, position + clip.size / SAMPLE_RATE
        pieces += [clip, pause]
        position += (clip.size + pause.size) / SAMPLE_RATE
    audio = np.concatenate(pieces)
    assert breath_at is not None and audio.size / SAMPLE_RATE > 125
    first = next(cut_windows(blocks(audio), window_seconds=120))
    assert breath_at < first.seconds < breath_at + 0.7


def test_a_window_handed_back_from_a_moment_restarts_there() -> None:
    audio, _ = join_with_pauses([samples_of(JFK)] * 18, pause_seconds=3.0)
    windows = cut_windows(blocks(audio), window_seconds=60)
    first = next(windows)
    second = windows.send(first.offset + 40.0)  # the pipeline hands back from 40 s on
    assert second.offset == pytest.approx(40.0)
    assert np.array_equal(second.audio[:100], audio[40 * SAMPLE_RATE:40 * SAMPLE_RATE + 100])
    # Never before the window's first half: every window moves the recording on.
    third = windows.send(second.offset + 1.0)
    assert third.offset == pytest.approx(second.offset + second.seconds / 2, abs=1e-3)
    rest = list(windows)
    assert rest[-1].last and not third.last
    assert rest[-1].end == pytest.approx(audio.size / SAMPLE_RATE)


def test_a_window_cut_short_keeps_its_speech_up_to_the_moment() -> None:
    window = Window(100.0, np.zeros(60 * SAMPLE_RATE, np.float32), [(1.0, 20.0), (30.0, 50.0)])
    short = window.up_to(135.0)
    assert short.seconds == pytest.approx(35.0)
    assert short.regions == [(1.0, 20.0), (30.0, 35.0)]


def test_clips_group_regions_up_to_thirty_seconds() -> None:
    assert group_clips([0.0, 10.0, 25.0], [10.0, 15.0, 10.0]) == [(0.0, 25.0), (25.0, 35.0)]
    assert group_clips([0.0], [70.0]) == [(0.0, 30.0), (30.0, 60.0), (60.0, 70.0)]


def test_joined_speech_drops_silence_and_maps_times_back() -> None:
    audio = np.arange(10 * SAMPLE_RATE, dtype=np.float32)
    speech, clock = join_speech(audio, [(1.0, 3.0), (6.0, 7.0)], offset=100.0)
    assert speech.seconds == pytest.approx(3.0)
    assert speech.audio[0] == audio[SAMPLE_RATE]
    assert speech.audio[2 * SAMPLE_RATE] == audio[6 * SAMPLE_RATE]
    assert clock.to_original(0.5) == pytest.approx(101.5)
    assert clock.to_original(2.5) == pytest.approx(106.5)
    assert speech.clips == [(0.0, 3.0)]


def test_an_end_time_on_a_join_stays_with_the_region_before() -> None:
    clock = TimeMap(joined=[0.0, 2.0], original=[1.0, 6.0])
    assert clock.to_original(2.0, is_end=True) == pytest.approx(3.0)
    assert clock.to_original(2.0) == pytest.approx(6.0)


def test_a_moment_of_the_recording_maps_back_onto_the_joined_speech() -> None:
    clock = TimeMap(joined=[0.0, 2.0], original=[1.0, 6.0])  # regions 1-3 s and 6-... s
    assert clock.to_joined(1.5) == pytest.approx(0.5)
    assert clock.to_joined(6.5) == pytest.approx(2.5)
    assert clock.to_joined(4.0) == pytest.approx(2.0)  # in the silence cut out: at the join
    assert clock.to_joined(0.5) == pytest.approx(0.0)  # before the first region
    assert clock.to_original(clock.to_joined(7.25)) == pytest.approx(7.25)
