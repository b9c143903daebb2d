"""Long recordings in bounded pieces: windows cut at pauses, and the speech inside each window.

A recording is decoded as a stream and handed on in windows of about WA_WINDOW_SECONDS. Each
window ends in the middle of the longest pause the voice activity detector (faster-whisper's
Silero VAD, the same for every engine) finds in its last CUT_SEARCH_SECONDS, so no word is cut
in two and the pieces join seamlessly. Within a window the speech regions are joined end to end
(silences removed, as faster-whisper's own vad_filter does) and a TimeMap puts the engine's
timestamps back on the recording's clock.

Memory is bounded by the window, not by the recording: one window of samples (19 MB for
5 minutes), its speech, and the engine's work on it.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from .engines.base import SAMPLE_RATE, Speech

# Where to look for the pause that ends a window: its last minute, or its last quarter if that
# is shorter (a window must not end up much shorter than asked for).
CUT_SEARCH_SECONDS = 60.0
CUT_SEARCH_SHARE = 0.25
MAX_CLIP_SECONDS = 30.0  # Whisper's input window: a clip handed to a batched engine fits in it
# faster-whisper's sequential defaults (2 s of silence ends a region, 400 ms padding), with
# regions split at a short pause when they reach 30 s so that every clip fits Whisper's window.
VAD_OPTIONS = VadOptions(max_speech_duration_s=MAX_CLIP_SECONDS)

Region = tuple[float, float]  # (start, end) seconds


@dataclass
class Window:
    """A stretch of the recording: its samples, where it starts, and its speech regions
    (seconds from the window's first sample)."""

    offset: float
    audio: np.ndarray
    regions: list[Region]

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


def speech_regions(audio: np.ndarray, vad: bool = True) -> list[Region]:
    """Where the VAD hears speech; without VAD the whole audio counts as speech."""
    if not vad:
        return [(0.0, len(audio) / SAMPLE_RATE)] if len(audio) else []
    return [(chunk["start"] / SAMPLE_RATE, chunk["end"] / SAMPLE_RATE)
            for chunk in get_speech_timestamps(audio, VAD_OPTIONS)]


def choose_cut(regions: list[Region], length: float) -> float:
    """Where to end a window of `length` seconds, near its end and always between two speech
    regions: before the window's last, partial clip of speech if that is near enough (see
    _before_last_clip), else in the middle of the longest pause. Regions the VAD split at 30 s
    meet at a short pause, so they count too. No pause at all: cut at `length`."""
    search = min(CUT_SEARCH_SECONDS, CUT_SEARCH_SHARE * length)
    before_last_clip = _before_last_clip(regions, length - search)
    if before_last_clip is not None:
        return before_last_clip
    edges = [0.0, *[edge for region in regions for edge in region], length]
    pauses = [(edges[i], edges[i + 1]) for i in range(0, len(edges) - 1, 2)
              if edges[i] <= edges[i + 1]]
    candidates = [(end - start, (start + end) / 2) for start, end in pauses
                  if length - search <= (start + end) / 2 <= length]
    if not candidates:
        return length
    return max(candidates)[1]  # the longest pause; of equal ones, the latest


def _before_last_clip(regions: list[Region], earliest: float) -> float | None:
    """The middle of the pause where the window's last clip (group_clips) begins, if it is at
    or after `earliest`.

    Whisper's encoder costs a full 30 s per clip however short: a window that ended after a
    7 s clip cost as much as one ending after a 30 s one (measured on cfb_00: 13 clips for
    308 s of speech in 120 s windows, 3 of them 7-12 s). Ending the window before its last,
    partial clip hands that speech to the next window, where it fills a clip."""
    boundaries = []
    fill = 0.0
    for index, (start, end) in enumerate(regions):
        if index and fill + (end - start) > MAX_CLIP_SECONDS:  # as group_clips groups them
            boundaries.append((regions[index - 1][1] + start) / 2)
            fill = 0.0
        fill += end - start
    candidates = [boundary for boundary in boundaries if boundary >= earliest]
    return candidates[-1] if candidates else None


def cut_windows(blocks: Iterable[np.ndarray], window_seconds: float,
                vad: bool = True) -> Iterator[Window]:
    """Windows of at most `window_seconds` from a stream of sample blocks, each ending at a pause.

    What follows a cut is carried into the next window and its VAD runs again there: at most
    CUT_SEARCH_SECONDS of repeated VAD work per window, in exchange for never holding more than
    one window (plus one block) of samples.
    """
    size = int(window_seconds * SAMPLE_RATE)
    pending: list[np.ndarray] = []
    held = 0
    offset = 0.0
    for block in blocks:
        pending.append(block)
        held += block.size
        while held >= size:
            buffer = np.concatenate(pending)
            window, rest = _first_window(buffer[:size], offset, vad)
            buffer = buffer[rest:]
            pending, held = [buffer], buffer.size
            offset += rest / SAMPLE_RATE
            yield window
    if held:
        audio = np.concatenate(pending)
        yield Window(offset, audio, speech_regions(audio, vad))


def _first_window(audio: np.ndarray, offset: float, vad: bool) -> tuple[Window, int]:
    """The window that starts `audio`, and the sample where the next one starts."""
    regions = speech_regions(audio, vad)
    cut = choose_cut(regions, len(audio) / SAMPLE_RATE) if vad else len(audio) / SAMPLE_RATE
    cut_sample = max(1, int(cut * SAMPLE_RATE))
    kept = [(start, min(end, cut)) for start, end in regions if start < cut]
    return Window(offset, audio[:cut_sample], kept), cut_sample


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


def join_speech(audio: np.ndarray, regions: list[Region], offset: float = 0.0
                ) -> tuple[Speech, TimeMap]:
    """The regions' samples end to end, their <= 30 s clips, and the map back to `offset` +
    position in `audio`."""
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
    joined_audio = np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)
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
