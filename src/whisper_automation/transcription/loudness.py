"""How loud speech is, moment by moment, and the gain that raises quiet speech to a speaking level.

Both listeners hear quiet speech raised: the VAD (vad.SpeechDetector, over the recording as it
streams) all of the gain, and Whisper (windows.join_speech, over the speech a window hands the
engine) the part beyond WHISPER_AS_IS_DB (for_whisper). Neither hears a recording that speaks
up any differently: where every moment is loud enough, the samples pass exactly as they are.

Whisper's input is an absolute log-mel spectrogram: the same words 34 dB down reach the model
as a rarer input, and it skips and mishears more of them. Measured on the benchmark's `drop`
(the bedtime readings 34 dB down after two minutes, under a hum), tiny.en: 858 errors and a
7-word run lost with the recording's own samples, 732 and 5 raised; base 582 and 5, 558 and
3. Where the speech is at a speaking level (every recording of ../shared/corpus, and the
benchmark's phone-like, harder and room readings) nothing is raised (docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np

from whisper_automation.transcription.speech import SAMPLE_RATE

LEVEL_SAMPLES = 1600  # loudness is measured per 100 ms ...
LEVEL_REACH = 50  # ... and a moment's is that of the loudest 10 % within 5 s (its speech, if any)
OWN_REACH = 5  # ... or, where louder, within 0.5 s before and after (the moment's own)
STEP_DB = 10.0  # the level steps where the 5 s before a moment and the 5 s after differ so
STEP_RATIO = 10 ** (STEP_DB / 20)
LEVEL_PERCENTILE = 90
QUIET_LEVEL = 0.03  # a moment quieter than this (about -30 dBFS RMS) is raised to it ...
MAX_GAIN = 30.0  # ... by at most 30 dB (a silent stretch's hiss stays hiss: measured)
# Whisper is given speech within WHISPER_AS_IS_DB of QUIET_LEVEL as it is, and what lies
# further below raised twice as fast as it falls, up to the whole gain at twice that distance.
# Measured: raised by a few dB (the benchmark's `harder`, 3-6 dB below), what Whisper writes
# changes as much as by any level change of that size (a constant 3 dB up or down: 1,095 and
# 1,120 errors against 1,083, tiny.en); 20 dB and more below (`quiet`, `drop`), raised whole.
WHISPER_AS_IS_DB = 10.0
RAISE_BLOCK_SAMPLES = 30 * SAMPLE_RATE  # 300 loudness measures at a time


def loudness(span: np.ndarray) -> np.ndarray:
    """RMS of each 100 ms of `span` (the last part one included)."""
    pieces = np.array_split(span.astype(np.float64), max(1, -(-span.size // LEVEL_SAMPLES)))
    return np.array([np.sqrt(np.mean(piece ** 2)) if piece.size else 0.0 for piece in pieces])


def gains_for(levels: np.ndarray, first: int, count: int, steps_at_ends: bool = True
              ) -> np.ndarray:
    """The gain of each 100 ms from `levels[first]` on, for `count` of them: 1 where the
    moment's speech is at QUIET_LEVEL or louder, else what raises it there (at most MAX_GAIN).

    A moment's speech is as loud as the loudest 10 % within 5 s of it; but where the level
    steps (the 5 s before and the 5 s after differ by STEP_DB: a reader turns away, a quiet
    recording joined after a loud one), as the quieter side's, unless the moment itself (0.5 s
    either side) is louder. Measured over 5 s either side at once, the loud side held the
    quiet one unraised, and unheard, for 4 s after a step down (the benchmark's `drop`: 14-17
    words lost there). A silence of 5 s or more is such a step too, and is raised from its
    start (hiss raised stays hiss: measured), where only the middle of a silence of ten seconds
    or so was. `steps_at_ends` False: within 5 s of either end of `levels` the side cut short
    is no step (see raised)."""
    level = _levels(levels, first, count, LEVEL_REACH, LEVEL_REACH)
    before = _levels(levels, first, count, LEVEL_REACH, 0)
    after = _levels(levels, first, count, 0, LEVEL_REACH)
    quieter = np.minimum(before, after)
    step = quieter * STEP_RATIO < np.maximum(before, after)
    if not steps_at_ends:
        moments = np.arange(first, first + count)
        step &= (moments >= LEVEL_REACH) & (moments + LEVEL_REACH < levels.size)
    if step.any():
        own = _levels(levels, first, count, OWN_REACH, OWN_REACH)
        level = np.where(step, np.maximum(own, quieter), level)
    return np.clip(QUIET_LEVEL / np.maximum(level, 1e-9), 1.0, MAX_GAIN)


def _levels(levels: np.ndarray, first: int, count: int, back: int, ahead: int) -> np.ndarray:
    """For each of `count` moments from `levels[first]` on, the loudest 10 % of the `back`
    before it, itself and the `ahead` after it (as many as there are, at either end)."""
    moments = np.arange(first, first + count)
    whole = (moments >= back) & (moments + ahead < levels.size)
    found = np.empty(count)
    if whole.any():  # all at once; only the recording's first and last 5 s are one by one
        windows = np.lib.stride_tricks.sliding_window_view(levels, back + ahead + 1)
        found[whole] = np.percentile(windows[moments[whole] - back], LEVEL_PERCENTILE, axis=1)
    for index in np.flatnonzero(~whole):
        moment = moments[index]
        found[index] = _level(levels[max(0, moment - back):moment + ahead + 1])
    return found


def _level(levels: np.ndarray) -> float:
    return float(np.percentile(levels, LEVEL_PERCENTILE))


def raised(audio: np.ndarray) -> np.ndarray:
    """`audio` raised moment by moment to a speaking level where it is quiet (gains_for over
    the whole of it); `audio` itself where it speaks up. Measured and raised a block at a
    time, in place on a copy, so a window's five minutes cost no float64 array of their size."""
    if not audio.size:
        return audio
    blocks = range(0, audio.size, RAISE_BLOCK_SAMPLES)
    levels = np.concatenate([loudness(audio[first:first + RAISE_BLOCK_SAMPLES])
                             for first in blocks])
    # A window's or a retried stretch's ends are no steps in the recording: a side cut short
    # there (the speech before a window, a stretch's first 100 ms of padding) is not heard as
    # the level stepping (measured: base wrote another reader's 2.2 s after a reading's last
    # words, raised by the step down to it at the end of the file).
    gains = for_whisper(gains_for(levels, 0, levels.size, steps_at_ends=False))
    if np.all(gains == 1.0):
        return audio
    centres = (np.arange(gains.size) + 0.5) * LEVEL_SAMPLES
    louder = audio.astype(np.float32, copy=True)
    for first in blocks:
        last = min(louder.size, first + RAISE_BLOCK_SAMPLES)
        louder[first:last] *= np.interp(np.arange(first, last), centres, gains)
    return louder


def for_whisper(gains: np.ndarray) -> np.ndarray:
    """The part of the VAD's gains that Whisper is given (see WHISPER_AS_IS_DB)."""
    needed = 20 * np.log10(gains)
    given = np.clip(2 * (needed - WHISPER_AS_IS_DB), 0.0, needed)
    return np.where(given > 0, 10 ** (given / 20), 1.0)
