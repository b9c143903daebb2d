"""Long recordings in bounded pieces: windows cut at pauses, and the speech inside each window.

A recording is decoded as a stream and handed on in windows of about WA_WINDOW_SECONDS. Each
window ends in the middle of the longest pause the voice activity detector (faster-whisper's
Silero VAD, the same for every engine, heard once over the whole recording: vad.py) finds in
its last CUT_SEARCH_SECONDS, so no word is cut in two and the pieces join seamlessly. Within a
window the speech regions are joined end to end (silences removed, as faster-whisper's own
vad_filter does) and a TimeMap puts the engine's timestamps back on the recording's clock.

Memory is bounded by the window, not by the recording: one window of samples (19 MB for
5 minutes), its speech, and the engine's work on it.
"""

from __future__ import annotations

import bisect
from collections.abc import Generator, Iterable
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions

from whisper_automation.transcription.loudness import raised
from whisper_automation.transcription.speech import SAMPLE_RATE, Speech
from whisper_automation.transcription.vad import FrameProbabilities, Region, SpeechDetector

# Where to look for the pause that ends a window: its last minute, or its last quarter if that
# is shorter (a window must not end up much shorter than asked for).
CUT_SEARCH_SECONDS = 60.0
CUT_SEARCH_SHARE = 0.25
MAX_CLIP_SECONDS = 30.0  # Whisper's input window: a clip handed to a batched engine fits in it
# faster-whisper's sequential defaults (2 s of silence ends a region, 400 ms padding), with
# regions split at a short pause when they reach 30 s so that every clip fits Whisper's window.
VAD_OPTIONS = VadOptions(max_speech_duration_s=MAX_CLIP_SECONDS)
# Where a window ends is found by a second, fine-grained reading of its last minute: the regions
# above part only at pauses of 2 s or more, or, in continuous reading, at the 100 ms gap where a
# 30 s region was split, often inside a phrase. A window that ends there hands the engine half
# a phrase, which Whisper completes by guessing, and the next window starts on the other half
# (measured on hard/...jerome..._phone.mp3: "But although injustice" | "gross injustice").
# Any silence of 150 ms or more counts here, and the longest one is chosen: a breath between
# sentences rather than a gap between two words.
PAUSE_VAD_OPTIONS = VadOptions(min_silence_duration_ms=150, speech_pad_ms=0)
MIN_RESUME_PAUSE_SECONDS = 0.1  # a window handed back from a sentence end restarts in silence


@dataclass
class Window:
    """A stretch of the recording: its samples, where it starts, and its speech regions
    (seconds from the window's first sample)."""

    offset: float
    audio: np.ndarray
    regions: list[Region]
    last: bool = False  # the recording's last window: nothing follows it
    # What the VAD heard in it, on the window's clock, from its one pass over the recording
    # (vad.py); None: not heard yet (a window made by hand), heard() hears it alone.
    probabilities: FrameProbabilities | None = None

    @property
    def end(self) -> float:
        return self.offset + self.seconds

    def up_to(self, moment: float) -> Window:
        """This window cut short at `moment` (the recording's clock)."""
        cut = moment - self.offset
        return Window(self.offset, self.audio[:round(cut * SAMPLE_RATE)],
                      [(start, min(end, cut)) for start, end in self.regions if start < cut],
                      self.last, self.probabilities)

    def heard(self) -> FrameProbabilities:
        """The VAD's probabilities for this window's frames."""
        if self.probabilities is None:
            self.probabilities = SpeechDetector.of(self.audio)
        return self.probabilities

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def speech_regions(audio: np.ndarray, vad: bool = True) -> list[Region]:
    """Where the VAD hears speech in `audio`, heard from its first sample; without VAD the
    whole audio counts as speech."""
    if not vad:
        return [(0.0, len(audio) / SAMPLE_RATE)] if len(audio) else []
    return SpeechDetector.of(audio).regions(0, len(audio), VAD_OPTIONS)


def find_pauses(probabilities: FrameProbabilities, start_sample: int, end_sample: int
                ) -> list[Region]:
    """The silences between the two samples as the fine-grained pass hears them (seconds from
    `start_sample`)."""
    speech = probabilities.regions(start_sample, end_sample, PAUSE_VAD_OPTIONS)
    length = (end_sample - start_sample) / SAMPLE_RATE
    edges = [0.0, *[edge for region in speech for edge in region], length]
    return [(edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2)
            if edges[i + 1] > edges[i]]


def pause_near(window: Window, moment: float, reach: float = 1.0) -> float | None:
    """The middle of the silence nearest to `moment` (the recording's clock) within `reach`
    seconds of it, as the fine VAD pass hears it; None when there is none that close."""
    first = max(0.0, moment - window.offset - reach)
    last = min(window.seconds, moment - window.offset + reach)
    pauses = [(first + start, first + end)
              for start, end in find_pauses(window.heard(), int(first * SAMPLE_RATE),
                                            int(last * SAMPLE_RATE))
              if end - start >= MIN_RESUME_PAUSE_SECONDS]
    if not pauses:
        return None
    target = moment - window.offset
    start, end = min(pauses, key=lambda pause: max(0.0, pause[0] - target, target - pause[1]))
    return window.offset + (start + end) / 2


def choose_cut(pauses: list[Region], length: float) -> float:
    """Where to end a window of `length` seconds: in the middle of the longest pause in its
    last CUT_SEARCH_SECONDS (or last quarter); of equal ones, the latest. No pause at all (music,
    noise, speech without a breath): cut at `length`."""
    search = min(CUT_SEARCH_SECONDS, CUT_SEARCH_SHARE * length)
    candidates = [(end - start, (start + end) / 2) for start, end in pauses
                  if length - search <= (start + end) / 2 <= length]
    if not candidates:
        return length
    return max(candidates)[1]


def cut_windows(blocks: Iterable[np.ndarray], window_seconds: float,
                vad: bool = True) -> Generator[Window, float | None, None]:
    """Windows of at most `window_seconds` from a stream of sample blocks, each ending at a pause.

    The consumer may answer a window with `send(seconds)`, a moment on the recording's clock
    inside that window: the next window then starts there instead of at the window's end (the
    pipeline hands back the tail after a window's last finished sentence, see
    pipeline.resume_point). What follows a cut is carried into the next window: never more than
    one window (plus one block, one of the VAD's stretches and 5 s) of samples is held. The VAD
    hears each sample once, in order (vad.py), so a window's regions do not depend on where it
    starts.
    """
    size = int(window_seconds * SAMPLE_RATE)
    detector = SpeechDetector() if vad else None
    pending: list[np.ndarray] = []
    held = 0
    first_sample = 0  # the held samples' first, on the recording's clock

    def cut_while_held(stream_ended: bool) -> Generator[Window, float | None, None]:
        # A window is cut once the VAD has heard all of it: it hears a stretch once the
        # stretch is whole (vad.SPAN_FRAMES) and the 5 s after it are known (vad.AHEAD_SAMPLES,
        # for its loudness), so up to one stretch and 5 s more may be held meanwhile.
        nonlocal pending, held, first_sample
        while held >= size and (stream_ended or detector is None
                                or detector.heard_until >= first_sample + size):
            buffer = np.concatenate(pending)
            window, rest = _first_window(buffer[:size], first_sample, detector)
            rest = _resume_sample(window, rest, (yield window))
            buffer = buffer[rest:]
            pending, held = [buffer], buffer.size
            first_sample += rest
            if detector:
                detector.forget_before(first_sample)

    for block in blocks:
        pending.append(block)
        held += block.size
        if detector:
            detector.feed(block)
        yield from cut_while_held(stream_ended=False)
    if detector:
        detector.finish()
    yield from cut_while_held(stream_ended=True)
    if held:
        audio = np.concatenate(pending)
        probabilities = _on_window_clock(detector, first_sample) if detector else None
        regions = (probabilities.regions(0, audio.size, VAD_OPTIONS) if probabilities
                   else speech_regions(audio, vad=False))
        yield Window(first_sample / SAMPLE_RATE, audio, regions, last=True,
                     probabilities=probabilities)


def _on_window_clock(detector: SpeechDetector, first_sample: int) -> FrameProbabilities:
    heard = detector.probabilities
    return FrameProbabilities(heard.first_sample - first_sample, heard.values)


def _resume_sample(window: Window, cut_sample: int, resume: float | None) -> int:
    """Where the next window starts, in samples from `window`'s first: at the cut, or earlier
    where the consumer asked, though never before the window's first half (every window moves
    the recording on by at least half a window)."""
    if resume is None:
        return cut_sample
    sample = round((resume - window.offset) * SAMPLE_RATE)
    return min(cut_sample, max(cut_sample // 2, sample))


def _first_window(audio: np.ndarray, first_sample: int, detector: SpeechDetector | None
                  ) -> tuple[Window, int]:
    """The window that starts `audio` (at `first_sample` on the recording's clock), and the
    sample where the next one starts."""
    offset = first_sample / SAMPLE_RATE
    length = len(audio) / SAMPLE_RATE
    if detector is None:
        return Window(offset, audio, speech_regions(audio, vad=False)), len(audio)
    heard = _on_window_clock(detector, first_sample)
    regions = heard.regions(0, len(audio), VAD_OPTIONS)
    search = min(CUT_SEARCH_SECONDS, CUT_SEARCH_SHARE * length)
    earliest = int((length - search) * SAMPLE_RATE)
    pauses = [(earliest / SAMPLE_RATE + start, earliest / SAMPLE_RATE + end)
              for start, end in find_pauses(heard, earliest, len(audio))]
    cut = choose_cut(pauses, length)
    cut_sample = max(1, int(cut * SAMPLE_RATE))
    kept = [(start, min(end, cut)) for start, end in regions if start < cut]
    return Window(offset, audio[:cut_sample], kept, probabilities=heard), cut_sample


@dataclass
class TimeMap:
    """From the joined speech's clock back to the recording's: joined region i starts at
    `joined[i]` and came from `original[i]` (both seconds)."""

    joined: list[float]
    original: list[float]

    def to_original(self, seconds: float, is_end: bool = False) -> float:
        # An end time exactly on a join belongs to the region before it.
        find = bisect.bisect_left if is_end else bisect.bisect_right
        index = max(0, find(self.joined, seconds) - 1)
        return round(self.original[index] + seconds - self.joined[index], 3)

    def to_joined(self, seconds: float) -> float:
        """A moment of the recording on the joined clock; one in a silence cut out goes to
        the join it was cut at."""
        index = max(0, bisect.bisect_right(self.original, seconds) - 1)
        moment = self.joined[index] + max(0.0, seconds - self.original[index])
        if index + 1 < len(self.joined):
            moment = min(moment, self.joined[index + 1])
        return round(moment, 3)


def join_speech(audio: np.ndarray, regions: list[Region], offset: float = 0.0
                ) -> tuple[Speech, TimeMap]:
    """The regions' samples end to end, raised to a speaking level where they are quiet
    (loudness.raised), their <= 30 s clips, and the map back to `offset` + position in
    `audio`."""
    pieces: list[np.ndarray] = []
    joined: list[float] = []
    original: list[float] = []
    position = 0.0
    for start, end in regions:
        piece = audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
        if not piece.size:
            continue
        pieces.append(piece)
        joined.append(position)
        original.append(offset + start)
        position += piece.size / SAMPLE_RATE
    joined_audio = raised(np.concatenate(pieces)) if pieces else np.zeros(0, dtype=np.float32)
    lengths = [piece.size / SAMPLE_RATE for piece in pieces]
    return Speech(joined_audio, group_clips(joined, lengths)), TimeMap(joined, original)


def group_clips(starts: list[float], lengths: list[float],
                limit: float = MAX_CLIP_SECONDS) -> list[Region]:
    """Consecutive regions grouped into clips of at most `limit` seconds (a region longer than
    that, possible only without VAD, is split into `limit`-long pieces)."""
    clips: list[Region] = []
    for start, length in zip(starts, lengths, strict=True):
        end = start + length
        if clips and end - clips[-1][0] <= limit:
            clips[-1] = (clips[-1][0], end)
            continue
        while end - start > limit:
            clips.append((start, start + limit))
            start += limit
        clips.append((start, end))
    return clips
