"""Windows: a long recording in bounded pieces cut at pauses, joined speech and its clock."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.support.audio import JFK, join_with_pauses, samples_of
from whisper_automation.engines.base import SAMPLE_RATE
from whisper_automation.windows import (
    TimeMap,
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
    regions = [(0.0, 40.0), (41.0, 50.0), (53.0, 59.0)]
    assert choose_cut(regions, 60.0) == pytest.approx(51.5)


def test_cut_without_any_pause_is_the_window_end() -> None:
    assert choose_cut([(0.0, 60.0)], 60.0) == 60.0
    # The only pause (20-120 s) has its middle far from the end: no cut inside it.
    assert choose_cut([(0.0, 20.0)], 120.0) == 120.0


def test_cut_ignores_pauses_far_from_the_end() -> None:
    # A 120 s window looks at its last 30 s only (a quarter), so the long early pause loses.
    assert choose_cut([(0.0, 10.0), (40.0, 70.0), (71.0, 89.0)], 120.0) == pytest.approx(104.5)


def test_cut_hands_the_last_partial_clip_to_the_next_window() -> None:
    # Clips of 29 + 28 + 29 + 29 s, then 4 s that would cost a whole 30 s encoder pass.
    regions = [(0.0, 29.0), (29.5, 57.5), (58.0, 87.0), (87.5, 116.5), (117.0, 121.0)]
    assert choose_cut(regions, 122.0) == pytest.approx(116.75)
    # Too early to cut there (outside the last quarter): the longest pause near the end.
    assert choose_cut([(0.0, 29.0), (29.5, 40.0), (50.0, 119.0)], 120.0) == pytest.approx(119.5)


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
