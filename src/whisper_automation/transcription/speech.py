"""Speech and transcripts: the types the transcription path shares, below every engine.

The pipeline (pipeline.py, windows.py, audio.py, coverage.py) cuts a recording into windows of
speech and an engine (engines/) transcribes one window at a time; both speak in these types, so
the pipeline never imports an engine and an engine never imports the pipeline:

    Speech (16 kHz mono float32 window)  -> engine.transcribe_speech -> Transcript (Segments)
    Segments of every window              -> result_from_segments   -> Result

A Segment holds its Words (each timed, with the model's probability); a Result is a whole
recording's transcript: its text, Segments, language, duration and Coverage. They are typed
values everywhere in the code and dicts only in JSON (done records, the .json transcript),
in whisper's result shape, written and read by to_dict/from_dict:

    {"text": str, "segments": [{"start": float, "end": float, "text": str,
                                 "avg_logprob": float, "no_speech_prob": float,
                                 "words": [{"word", "start", "end", "probability"}], "id": int}],
     "language": str, "duration": float, "coverage": {...}}

avg_logprob and no_speech_prob only where the engine reports them (not whisper.cpp); "words"
where the segment has words (openai-whisper also lists an empty one).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # the director's slim image has no numpy, and imports this module
    import numpy as np

from whisper_automation.errors import AudioError as AudioError  # part of this module's vocabulary

SAMPLE_RATE = 16_000


JsonObject = Mapping[str, Any]  # one object of a done record's JSON, as json.loads gives it


@dataclass(frozen=True)
class Word:
    """One word as spoken, with its leading space: when (seconds on the clock of what was
    transcribed: the recording's, once the pipeline has it) and the model's probability."""

    start: float
    end: float
    word: str
    probability: float

    def to_dict(self) -> dict[str, str | float]:
        return {"word": self.word, "start": self.start, "end": self.end,
                "probability": self.probability}

    @classmethod
    def from_dict(cls, data: JsonObject) -> Word:
        return cls(start=float(data["start"]), end=float(data["end"]), word=str(data["word"]),
                   probability=float(data["probability"]))


@dataclass(frozen=True)
class Segment:
    """A stretch of the transcript with its words (none where the engine gave none); `id` is
    its place in the Result."""

    start: float
    end: float
    text: str
    words: list[Word]
    id: int = 0
    # The decoder's scores where the engine gives them (not whisper.cpp): nothing here reads
    # them, the JSON keeps them.
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    # JSON only: "words": [] is written for a segment without words (openai-whisper lists it on
    # a segment it cleared; the other engines leave the key out).
    lists_no_words: bool = field(default=False, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"start": self.start, "end": self.end, "text": self.text}
        if self.avg_logprob is not None:
            data["avg_logprob"] = self.avg_logprob
        if self.no_speech_prob is not None:
            data["no_speech_prob"] = self.no_speech_prob
        if self.words or self.lists_no_words:
            data["words"] = [word.to_dict() for word in self.words]
        data["id"] = self.id
        return data

    @classmethod
    def from_dict(cls, data: JsonObject) -> Segment:
        words = data.get("words")
        return cls(start=float(data["start"]), end=float(data["end"]), text=str(data["text"]),
                   words=[Word.from_dict(word) for word in words or []],
                   id=int(data.get("id", 0)), avg_logprob=data.get("avg_logprob"),
                   no_speech_prob=data.get("no_speech_prob"), lists_no_words=words == [])


@dataclass
class Coverage:
    """How much of the detected speech the transcript covers: counted up by the pipeline as it
    goes (pipeline.py), kept in the Result and the done record."""

    speech_seconds: float = 0.0
    gaps_found: int = 0
    recovered_seconds: float = 0.0
    uncovered: list[tuple[float, float]] = field(default_factory=list)
    uncovered_seconds: float = 0.0
    windows: int = 0
    seams: list[float] = field(default_factory=list)  # where each window after the first began
    unheard_words: int = 0  # words dropped: written with no audio under them (coverage.py)
    # Of the uncovered speech, what was far quieter than the voice around it, so not transcribed
    # again: another voice in the room (pipeline.py, WA_QUIETER_VOICE_DB).
    quieter_seconds: float = 0.0

    def rounded(self) -> Coverage:
        """As a done record keeps it: seconds to two decimals."""
        return replace(self, speech_seconds=round(self.speech_seconds, 2),
                       recovered_seconds=round(self.recovered_seconds, 2),
                       uncovered=[(round(start, 2), round(end, 2))
                                  for start, end in self.uncovered],
                       uncovered_seconds=round(self.uncovered_seconds, 2),
                       quieter_seconds=round(self.quieter_seconds, 2),
                       seams=[round(seam, 2) for seam in self.seams])

    def to_dict(self) -> dict[str, Any]:
        kept = self.rounded()
        data: dict[str, Any] = {
            "speech_seconds": kept.speech_seconds, "gaps_found": kept.gaps_found,
            "recovered_seconds": kept.recovered_seconds,
            "uncovered_seconds": kept.uncovered_seconds,
            "uncovered": [[start, end] for start, end in kept.uncovered],
            "windows": kept.windows, "seams": kept.seams}
        if kept.unheard_words:  # only where there were any: records before it read back the same
            data["unheard_words"] = kept.unheard_words
        if kept.quieter_seconds:
            data["quieter_seconds"] = kept.quieter_seconds
        return data

    @classmethod
    def from_dict(cls, data: JsonObject) -> Coverage:
        return cls(speech_seconds=float(data.get("speech_seconds", 0.0)),
                   gaps_found=int(data.get("gaps_found", 0)),
                   recovered_seconds=float(data.get("recovered_seconds", 0.0)),
                   uncovered=[(float(start), float(end))
                              for start, end in data.get("uncovered", [])],
                   uncovered_seconds=float(data.get("uncovered_seconds", 0.0)),
                   windows=int(data.get("windows", 0)),
                   seams=[float(seam) for seam in data.get("seams", [])],
                   unheard_words=int(data.get("unheard_words", 0)),
                   quieter_seconds=float(data.get("quieter_seconds", 0.0)))


@dataclass(frozen=True)
class Result:
    """A recording's transcript, as the pipeline returns it and a done record keeps it."""

    text: str
    segments: list[Segment]
    language: str
    duration: float
    coverage: Coverage | None = None  # the pipeline's; None where nothing measured it

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"text": self.text,
                                "segments": [segment.to_dict() for segment in self.segments],
                                "language": self.language, "duration": self.duration}
        if self.coverage is not None:
            data["coverage"] = self.coverage.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: JsonObject) -> Result:
        """From a done record's "result". A segment or word without its times or text raises
        KeyError, TypeError or ValueError; a record that lacks the language or duration
        (written by hand, not by a worker) reads as "" and 0.0."""
        coverage = data.get("coverage")
        return cls(text=str(data.get("text", "")),
                   segments=[Segment.from_dict(segment) for segment in data.get("segments", [])],
                   language=str(data.get("language") or ""),
                   duration=float(data.get("duration") or 0.0),
                   coverage=Coverage.from_dict(coverage) if coverage is not None else None)


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

    segments: list[Segment]
    language: str


class CpuLender(Protocol):
    """Idle CPUs of the machine that a worker may borrow for one batch (jobs/cores.py)."""

    def borrow(self, most: int) -> AbstractContextManager[int]:
        """Up to `most` CPUs until the block ends; how many were lent (maybe 0)."""
        ...


class SpeechEngine(Protocol):
    """What the pipeline needs of an engine: its options (engines.base.EngineOptions, typed
    loosely here so that this module stays below the engines) and one window transcribed."""

    options: Any
    # Whether the engine decodes a window's <= 30 s clips (Speech.clips) each on its own, so
    # that a clip's edge is the end of Whisper's input (faster-whisper's batched pipeline). The
    # sequential decoders run over the joined speech, moving on by Whisper's own timestamps.
    clips_apart: bool

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


def split_long_segments(segments: list[Segment], max_seconds: float = MAX_CUE_SECONDS
                        ) -> list[Segment]:
    """Cut segments longer than `max_seconds` at word boundaries into subtitle-sized pieces,
    numbered in order.

    The batched pipeline returns one segment per speech chunk (up to 30 s): fine for .txt, too
    long for a subtitle cue. With word timings each piece ends at the last word that fits,
    preferring a word that closes a sentence or clause. Segments without words stay whole.
    """
    pieces: list[Segment] = []
    for segment in segments:
        words = segment.words
        if segment.end - segment.start <= max_seconds or not words:
            pieces.append(segment)
            continue
        while words:
            cut = _cut_index(words, max_seconds)
            chunk, words = words[:cut], words[cut:]
            pieces.append(replace(segment, start=round(chunk[0].start, 3),
                                  end=round(chunk[-1].end, 3),
                                  text="".join(word.word for word in chunk), words=chunk))
    return [replace(piece, id=index) for index, piece in enumerate(pieces)]


def _cut_index(words: list[Word], max_seconds: float) -> int:
    limit = words[0].start + max_seconds
    fits = max(1, sum(1 for word in words if word.end <= limit))
    if fits == len(words):
        return fits
    for index in range(fits, max(1, fits // 2), -1):  # a punctuation break in the later half
        if words[index - 1].word.rstrip().endswith((".", "?", "!", ",", ";", ":")):
            return index
    return fits


def result_from_segments(segments: list[Segment], language: str, duration: float,
                         coverage: Coverage | None = None) -> Result:
    return Result(text="".join(segment.text for segment in segments), segments=segments,
                  language=language, duration=duration, coverage=coverage)
