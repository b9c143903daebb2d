"""The voice activity detector (faster-whisper's Silero VAD), run once over a recording.

Silero is a recurrent network: its verdict on a frame depends on everything it heard before it.
faster-whisper's own `vad_filter` runs it once over the whole file. The pipeline used to run it
afresh over every window, from a cold state, and on quiet recordings a cold network stays below
its threshold for seconds of plain speech: in a bedtime reading 26 dB down under a hum, the
window handed back at 218 s heard nothing until 239.6 s, where one pass over the file heard
speech throughout (probabilities 0.74 on average): 41 words lost, and no gap reported, since the
coverage looks for skipped speech only where the VAD heard some.

Here the network hears the recording once, from its first sample, in order, its state carried
from block to block as one pass carries it (the same probabilities, computed in steps of
STEP_FRAMES to bound the network's activations: about 0.37 MB per second of audio at once).
A window's regions and pauses are read from its frames' probabilities with faster-whisper's own
`get_speech_timestamps`, so they no longer depend on where the window starts. Only the frames of
the samples still held are kept: 4 bytes per 32 ms.

What the network hears is the recording raised to a speaking level where it is quiet
(QUIET_LEVEL, moment by moment: the loudest 10 % within 5 s, or where the level steps, that of
the quieter side; see gains_for): its state also remembers how loud the speech was, and after a
loud passage a quiet one goes unheard. Measured on cfb_06 read at
its own level for 2 minutes, then 34 dB down under a hum: 257 of the quiet part's 350 s of
speech heard as recorded (all of it when that part is heard alone); raised, 346 s (40 dB down:
101 s as recorded, 344 s raised). Where a recording speaks up it is heard as it is, but for
silences of 5 s or more. The level and the gain are loudness.gains_for's; Whisper is given
the speech raised too where it lies far below a speaking level (loudness.raised).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps, get_vad_model

from whisper_automation.transcription.loudness import (
    LEVEL_REACH,
    LEVEL_SAMPLES,
    gains_for,
    loudness,
)
from whisper_automation.transcription.speech import SAMPLE_RATE

FRAME_SAMPLES = 512  # Silero's frame at 16 kHz: 32 ms
CONTEXT_SAMPLES = 64  # each frame is heard with the previous frame's last 64 samples
STEP_FRAMES = 1875  # 60 s of frames through the network per call
# A second or more of exact digital zeros is no pause in a recording (a room, a microphone, a
# tape all make some sound) but a join between two: the network hears what follows from a
# fresh state, as it would hear that recording alone (see SpeechDetector._restarts).
RESTART_FRAMES = 31
SPAN_FRAMES = 960  # 30.72 s heard at once, its loudness known
AHEAD_SAMPLES = LEVEL_REACH * LEVEL_SAMPLES  # a span is heard once the 5 s after it are known

Region = tuple[float, float]  # (start, end) seconds
# The network's session is one per process, and a replay swaps it out for a moment: whoever
# runs or replays it holds this lock (the pipeline uses it from one thread, but nothing says a
# caller must).
_SESSION = threading.Lock()


@dataclass(frozen=True)
class FrameProbabilities:
    """Speech probabilities of consecutive frames, the first starting at `first_sample` (on
    the clock of the audio they were heard in)."""

    first_sample: int
    values: np.ndarray

    def regions(self, start_sample: int, end_sample: int, options: VadOptions) -> list[Region]:
        """Where `options` find speech between the two samples, in seconds from `start_sample`
        (frames straddling `start_sample` count from it)."""
        first = max(0, (start_sample - self.first_sample) // FRAME_SAMPLES)
        last = max(first, -(-(end_sample - self.first_sample) // FRAME_SAMPLES))
        frames = self.values[first:last]
        if not frames.size:
            return []
        shift = start_sample - (self.first_sample + first * FRAME_SAMPLES)  # 0-511 samples
        length = end_sample - start_sample
        found = []
        for chunk in _timestamps(frames, length + shift, options):
            start, end = max(0, chunk["start"] - shift), min(length, chunk["end"] - shift)
            if end > start:
                found.append((start / SAMPLE_RATE, end / SAMPLE_RATE))
        return found


class SpeechDetector:
    """Silero heard over a stream of samples: `feed` each block in order, `finish` at the end;
    `probabilities` holds the frames heard since the last `forget_before`."""

    def __init__(self) -> None:
        self._state = np.zeros((1, 1, 128), np.float32)
        self._memory = np.zeros((1, 1, 128), np.float32)
        self._context = np.zeros(CONTEXT_SAMPLES, np.float32)
        self._silent_frames = 0  # frames of exact zeros heard in a row
        self._unheard = np.zeros(0, np.float32)  # samples short of a whole span
        self._recent_levels = np.zeros(0)  # the last LEVEL_REACH loudness measures heard
        self._first_sample = 0
        self._values = np.zeros(0, np.float32)

    @classmethod
    def of(cls, audio: np.ndarray) -> FrameProbabilities:
        """The probabilities of all of `audio`, heard from its first sample."""
        detector = cls()
        detector.feed(audio)
        detector.finish()
        return detector.probabilities

    @property
    def probabilities(self) -> FrameProbabilities:
        return FrameProbabilities(self._first_sample, self._values)

    @property
    def heard_until(self) -> int:
        """The sample up to which probabilities are known (a span's are known once it is whole,
        or at `finish`)."""
        return self._first_sample + self._values.size * FRAME_SAMPLES

    def feed(self, samples: np.ndarray) -> None:
        audio = np.concatenate([self._unheard, samples.astype(np.float32, copy=False)])
        span = SPAN_FRAMES * FRAME_SAMPLES
        first = 0
        while audio.size - first >= span + AHEAD_SAMPLES:
            self._hear(audio[first:first + span], audio[first + span:first + span + AHEAD_SAMPLES])
            first += span
        self._unheard = audio[first:].copy()

    def finish(self) -> None:
        """Hear the rest, its last part frame padded with silence (as get_speech_timestamps
        pads)."""
        span = SPAN_FRAMES * FRAME_SAMPLES
        rest, self._unheard = self._unheard, np.zeros(0, np.float32)
        for first in range(0, rest.size, span):
            self._hear(rest[first:first + span], rest[first + span:first + span + AHEAD_SAMPLES])

    def forget_before(self, sample: int) -> None:
        """Drop the frames that end at or before `sample`: no window will start before it."""
        drop = max(0, (sample - self._first_sample) // FRAME_SAMPLES)
        self._values = self._values[drop:].copy()
        self._first_sample += drop * FRAME_SAMPLES

    def _gain(self, span: np.ndarray, ahead: np.ndarray) -> float | np.ndarray:
        """1 where the span speaks up (it is then heard exactly as it is); else a gain per
        sample, eased from one 100 ms to the next. `ahead`: the samples after the span."""
        heard = np.concatenate([self._recent_levels, loudness(span)])
        first = self._recent_levels.size
        self._recent_levels = heard[-LEVEL_REACH:]
        levels = np.concatenate([heard, loudness(ahead)]) if ahead.size else heard
        gains = gains_for(levels, first, heard.size - first)
        if np.all(gains == 1.0):
            return 1.0
        centres = (np.arange(gains.size) + 0.5) * LEVEL_SAMPLES
        return np.interp(np.arange(span.size), centres, gains)

    def _hear(self, span: np.ndarray, ahead: np.ndarray) -> None:
        """Hear a whole span, or the recording's rest (its last part frame padded)."""
        raised = (span * self._gain(span, ahead)).astype(np.float32, copy=False)
        frames = np.pad(raised, (0, -raised.size % FRAME_SAMPLES)).reshape(-1, FRAME_SAMPLES)
        contexts = np.roll(frames[:, -CONTEXT_SAMPLES:], 1, axis=0)
        contexts[0] = self._context
        self._context = frames[-1, -CONTEXT_SAMPLES:].copy()
        heard = np.concatenate([contexts, frames], axis=1)
        restarts = self._restarts(frames)
        bounds = sorted({*range(0, len(heard), STEP_FRAMES), *restarts, len(heard)})
        found = []
        with _SESSION:
            session = get_vad_model().session  # one per process (get_vad_model is cached)
            for first, last in pairwise(bounds):
                if first in restarts:
                    self._state = np.zeros_like(self._state)
                    self._memory = np.zeros_like(self._memory)
                feeds = {"input": heard[first:last], "h": self._state, "c": self._memory}
                probabilities, self._state, self._memory = session.run(None, feeds)
                found.append(probabilities.reshape(-1))
        self._values = np.concatenate([self._values, *found])

    def _restarts(self, frames: np.ndarray) -> set[int]:
        """The frames that follow RESTART_FRAMES or more of exact zeros: the network hears
        them from a fresh state. Measured: the longform corpus's evening_3 (recordings joined
        by 2.5 s of zeros) had the first 8.5 s of a congested voice heard at 0.00-0.06 after
        another reader, so passed to nobody (faster-whisper's own filter the same); from a
        fresh state at the join, 0.26-0.66 from 2 s in, as that recording alone."""
        restarts = set()
        for index, silent in enumerate(~frames.any(axis=1)):
            if silent:
                self._silent_frames += 1
                continue
            if self._silent_frames >= RESTART_FRAMES:
                restarts.add(index)
            self._silent_frames = 0
        return restarts


class _Replay:
    """Stands in for the network's session while get_speech_timestamps reads probabilities
    already heard: it hands them back in the order faster-whisper asks for its frames (frames
    past the end, the padding it adds, are silence)."""

    def __init__(self, values: np.ndarray) -> None:
        self._values = values
        self._next = 0

    def run(self, _outputs, feeds: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        count = len(feeds["input"])
        chunk = np.zeros(count, np.float32)
        available = self._values[self._next:self._next + count]
        chunk[:available.size] = available
        self._next += count
        return chunk, feeds["h"], feeds["c"]


@contextmanager
def _replaying(values: np.ndarray) -> Iterator[None]:
    model = get_vad_model()
    network = model.session
    model.session = _Replay(values)
    try:
        yield
    finally:
        model.session = network


def _timestamps(values: np.ndarray, samples: int, options: VadOptions) -> list[dict]:
    """faster-whisper's speech chunks (in samples) for frames whose probabilities are known;
    its network is not run again. Its input must still have `samples` samples: silence is
    passed, as only its length is read."""
    with _SESSION, _replaying(values):
        return get_speech_timestamps(np.zeros(samples, np.float32), options)
