"""Word times set again where a retry changed a clip's text.

Whisper's word times come from aligning a 30 s input's text with its audio (dynamic time
warping over the cross-attention). Where the first pass skipped speech, its text lacks those
words, and the alignment lays the words it has over the skipped speech as well: the words after
the skip come out up to 1.2 s late (measured: five LJ Speech sentences said four times, a
batched clip that skipped the two sentences its prompt ended on). A retry puts the missing words
in, timed by its own alignment, but leaves the first pass's times as they were. So each clip
with a spliced retry is aligned once more, with its whole text, as Whisper aligns a window it
decoded whole. Only the times change: the words, and so the transcript's text, stay.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from whisper_automation.transcription.speech import SAMPLE_RATE, Segment, Speech, Word
from whisper_automation.transcription.windows import Region, TimeMap

# An engine's aligner: groups of consecutive words (each group from one segment), timed on the
# clip's own clock, and the clip's audio; the same groups timed again, or None where it cannot
# (its words differ from those it was given, say).
Aligner = Callable[[np.ndarray, list[list[Word]], str], list[list[Word]] | None]


def timed_as_found(groups: list[list[Word]], found: list[list[dict]]
                   ) -> list[list[Word]] | None:
    """`groups` with the times an aligner found for them (its words as dicts with "word",
    "start" and "end", group by group), or None where its words are not those given (text
    that tokenizes into other words than the first pass wrote)."""
    timed = []
    for group, words in zip(groups, found, strict=True):
        if [word.word.strip() for word in group] != [str(w["word"]).strip() for w in words]:
            return None
        timed.append([replace(word, start=round(float(w["start"]), 3),
                              end=round(float(w["end"]), 3))
                      for word, w in zip(group, words, strict=True)])
    return timed


def clips_to_realign(speech: Speech, clock: TimeMap, spliced: list[Region]) -> list[Region]:
    """The clips of `speech` (its own clock) that hold part of a spliced stretch (the
    recording's clock)."""
    return [(start, end) for start, end in speech.clips
            if any(clock.to_original(start) < stretch_end
                   and clock.to_original(end, is_end=True) > stretch_start
                   for stretch_start, stretch_end in spliced)]


def realigned(segments: list[Segment], speech: Speech, clock: TimeMap, clip: Region,
              language: str, align: Aligner) -> list[Segment]:
    """`segments` with the times of the words in `clip` (those whose middle falls in it) set
    by aligning them again with the clip's audio. Unchanged where the aligner declines."""
    start, end = clip
    placed = _words_in_clip(segments, clock, start, end)
    groups = [[_on_clip_clock(word, clock, start) for _, word in words]
              for _, words in placed]
    if not groups:
        return segments
    # Cut as faster-whisper's batched pipeline cuts a clip (so its encoder output is reused).
    audio = speech.audio[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)]
    timed = align(audio, groups, language)
    if timed is None or [len(group) for group in timed] != [len(group) for group in groups]:
        return segments
    new_times: dict[tuple[int, int], Word] = {}
    for (index, words), group in zip(placed, timed, strict=True):
        for (word_index, _), word in zip(words, group, strict=True):
            new_times[(index, word_index)] = word
    return [_retimed(segment, index, new_times, clock, start)
            for index, segment in enumerate(segments)]


def _words_in_clip(segments: list[Segment], clock: TimeMap, start: float, end: float
                   ) -> list[tuple[int, list[tuple[int, Word]]]]:
    """Per segment with words in the clip, its index and those words with theirs."""
    placed = []
    for index, segment in enumerate(segments):
        words = [(word_index, word) for word_index, word in enumerate(segment.words)
                 if start <= clock.to_joined((word.start + word.end) / 2) < end]
        if words:
            placed.append((index, words))
    return placed


def _on_clip_clock(word: Word, clock: TimeMap, clip_start: float) -> Word:
    return replace(word, start=round(max(0.0, clock.to_joined(word.start) - clip_start), 3),
                   end=round(max(0.0, clock.to_joined(word.end) - clip_start), 3))


def _retimed(segment: Segment, index: int, new_times: dict[tuple[int, int], Word],
             clock: TimeMap, clip_start: float) -> Segment:
    if not any((index, word_index) in new_times for word_index in range(len(segment.words))):
        return segment
    words = [replace(word, start=clock.to_original(clip_start + timed.start),
                     end=clock.to_original(clip_start + timed.end, is_end=True))
             if (timed := new_times.get((index, word_index))) is not None else word
             for word_index, word in enumerate(segment.words)]
    return replace(segment, start=words[0].start, end=words[-1].end, words=words)
