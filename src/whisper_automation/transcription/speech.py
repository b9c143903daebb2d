"""Speech and transcripts: the types the transcription path shares, below every engine.

The pipeline (pipeline.py, windows.py, audio.py, coverage.py) cuts a recording into windows of
speech and an engine (engines/) transcribes one window at a time; both speak in these types, so
the pipeline never imports an engine and an engine never imports the pipeline:

    Speech (16 kHz mono float32 window)  -> engine.transcribe_speech -> Transcript (segments)
    segments of every window              -> result_from_segments   -> whisper's result shape

result = {"text": str, "language": str, "duration": float,
          "segments": [{"id": int, "start": float, "end": float, "text": str,
                        "words": [{"word", "start", "end", "probability"}]}],
          "coverage": {...}}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the director's slim image has no numpy, and imports this module
    import numpy as np

from whisper_automation.errors import AudioError as AudioError  # part of this module's vocabulary

SAMPLE_RATE = 16_000


@dataclass
class Speech:
    """One window's speech, joined end to end: what an engine is given to transcribe.

    `audio` is 16 kHz mono float32 with the silences between the VAD's speech regions cut out;
    `clips` are (start, end) seconds within `audio`, back to back and each at most 30 s long,
    where it is safe to cut it (joins of whole speech regions): a batched engine decodes them
    as one batch, a sequential engine may ignore them.
    """

    audio: np.ndarray
    clips: list[tuple[float, float]] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return len(self.audio) / SAMPLE_RATE


@dataclass
class Transcript:
    """An engine's answer for one Speech: segments timed on `audio`'s own clock (seconds from
    its first sample), each with its words and their times, and the language it used."""

    segments: list[dict]
    language: str


class SpeechEngine(Protocol):
    """What the pipeline needs of an engine: its options (engines.base.EngineOptions, typed
    loosely here so that this module stays below the engines) and one window transcribed."""

    options: Any

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        """Segments with word timings for one window of speech. `prompt` is the text that came
        before ("" at the start of a recording), and the engine conditions each of its 30 s
        windows on the text before it as Whisper does; None means without any context, as when
        a skipped passage is tried again. `language` None means detect it. `beam_size` 0 means
        the engine's option (see engines.base.beam_width)."""
        ...


# WA_BEAM_SIZE=auto (docs/benchmarks.md, bedtime and short clips, 2 cores, tiny.en): on clips
# of a minute or two, beam 5 cost no measurable time (per-file work dominates) and gave 4.7 %
# WER against greedy's 6.2 %; on 5-8 minute readings it cost 1.35x the time for 5.0 % against
# 5.3 %. So: Whisper's own beam of 5 where it is free, greedy where it is not.
AUTO_BEAM_LONGEST_SECONDS = 120.0
AUTO_BEAM_SHORT, AUTO_BEAM_LONG = 5, 1


def auto_beam_size(seconds: float) -> int:
    return AUTO_BEAM_SHORT if seconds <= AUTO_BEAM_LONGEST_SECONDS else AUTO_BEAM_LONG


MAX_CUE_SECONDS = 7.0  # longest subtitle cue we write when word timings allow a split


def split_long_segments(segments: list[dict], max_seconds: float = MAX_CUE_SECONDS) -> list[dict]:
    """Cut segments longer than `max_seconds` at word boundaries into subtitle-sized pieces.

    The batched pipeline returns one segment per speech chunk (up to 30 s): fine for .txt, too
    long for a subtitle cue. With word timings each piece ends at the last word that fits,
    preferring a word that closes a sentence or clause. Segments without words stay whole.
    """
    pieces: list[dict] = []
    for segment in segments:
        words = segment.get("words") or []
        if segment["end"] - segment["start"] <= max_seconds or not words:
            pieces.append(segment)
            continue
        while words:
            cut = _cut_index(words, max_seconds)
            chunk, words = words[:cut], words[cut:]
            pieces.append(dict(segment, start=round(chunk[0]["start"], 3),
                               end=round(chunk[-1]["end"], 3),
                               text="".join(word["word"] for word in chunk), words=chunk))
    for index, piece in enumerate(pieces):
        piece["id"] = index
    return pieces


def _cut_index(words: list[dict], max_seconds: float) -> int:
    limit = words[0]["start"] + max_seconds
    fits = max(1, sum(1 for word in words if word["end"] <= limit))
    if fits == len(words):
        return fits
    for index in range(fits, max(1, fits // 2), -1):  # a punctuation break in the later half
        if words[index - 1]["word"].rstrip().endswith((".", "?", "!", ",", ";", ":")):
            return index
    return fits


def result_from_segments(segments: list[dict], language: str, duration: float) -> dict:
    return {
        "text": "".join(segment["text"] for segment in segments),
        "segments": segments,
        "language": language,
        "duration": duration,
    }
