"""The engine interface: a loaded model that turns speech into timed segments with words.

An engine does one thing: `transcribe_speech(speech, prompt, language)` on a window of speech
(16 kHz mono float32, silences already removed by the pipeline's VAD). Everything about whole
recordings - decoding in bounded windows, voice activity detection, putting the timestamps back
on the recording's own clock, finding and recovering speech the model skipped - is the
pipeline's job (see pipeline.py), the same for every engine. Each engine's `transcribe(path)`
hands the file to that pipeline and returns whisper's result shape:

result = {"text": str, "language": str, "duration": float,
          "segments": [{"id": int, "start": float, "end": float, "text": str,
                        "words": [{"word", "start", "end", "probability"}]}],
          "coverage": {...}}
Engines are imported lazily so that a faster-whisper worker never imports torch.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from ..settings import Settings

if TYPE_CHECKING:  # the director's slim image has no numpy, and imports this module
    import numpy as np

SAMPLE_RATE = 16_000


class AudioError(Exception):
    """The recording itself cannot be decoded: permanent, retrying will not help."""


@dataclass(frozen=True)
class EngineOptions:
    model: str
    language: str | None
    compute_type: str
    beam_size: int  # 0 = auto: chosen per recording by its length (auto_beam_size)
    vad: bool
    threads: int
    batch_size: int = 0  # faster-whisper's batched pipeline; 0 = file by file
    window_seconds: float = 300.0  # the pipeline's window: bounds memory (see pipeline.py)
    recover_seconds: float = 2.0  # speech with no word this long is transcribed again; 0 = off
    device: str = "cpu"  # as chosen by devices.resolve_device: cpu or cuda:N, never auto

    @classmethod
    def from_settings(cls, settings: Settings, threads: int) -> EngineOptions:
        return cls(model=settings.model, language=settings.language,
                   compute_type=settings.compute_type, beam_size=settings.beam_size,
                   vad=settings.vad, threads=threads, batch_size=settings.batch_size,
                   window_seconds=settings.window_seconds,
                   recover_seconds=settings.recover_seconds)


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


class Engine(Protocol):
    name: str
    model: str

    def transcribe(self, audio_path: str) -> dict:
        """The whole recording, through pipeline.transcribe_file; whisper's result shape."""
        ...

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        """Segments with word timings for one window of speech. `prompt` is the text that came
        before ("" at the start of a recording), and the engine conditions each of its 30 s
        windows on the text before it as Whisper does; None means without any context, as when
        a skipped passage is tried again. `language` None means detect it. `beam_size` 0 means
        the engine's option (see beam_width)."""
        ...

    def describe(self) -> dict: ...


# WA_BEAM_SIZE=auto (docs/benchmarks.md, bedtime and short clips, 2 cores, tiny.en): on clips
# of a minute or two, beam 5 cost no measurable time (per-file work dominates) and gave 4.7 %
# WER against greedy's 6.2 %; on 5-8 minute readings it cost 1.35x the time for 5.0 % against
# 5.3 %. So: Whisper's own beam of 5 where it is free, greedy where it is not.
AUTO_BEAM_LONGEST_SECONDS = 120.0
AUTO_BEAM_SHORT, AUTO_BEAM_LONG = 5, 1


def auto_beam_size(seconds: float) -> int:
    return AUTO_BEAM_SHORT if seconds <= AUTO_BEAM_LONGEST_SECONDS else AUTO_BEAM_LONG


def beam_width(requested: int, options: EngineOptions) -> int:
    """The beam for one call: the pipeline's choice for this recording, else the engine's
    option, auto (0) counting as the short-recording beam when nothing chose for it."""
    return requested or options.beam_size or AUTO_BEAM_SHORT


def describe_engine(name: str, options: EngineOptions, **specific: object) -> dict:
    """What a done record and a worker's presence say about how it transcribes: the options
    every engine shares, then what is the engine's own."""
    return {"engine": name, "model": options.model, "device": options.device,
            "beam_size": options.beam_size,
            "vad": options.vad, "threads": options.threads,
            "window_seconds": options.window_seconds,
            "recover_seconds": options.recover_seconds, **specific}


BUILT_IN = {
    "faster-whisper": "whisper_automation.engines.faster:FasterWhisperEngine",
    "openai-whisper": "whisper_automation.engines.openai:OpenAIWhisperEngine",
    "whisper.cpp": "whisper_automation.engines.whispercpp:WhisperCppEngine",
}


def load_engine(spec: str, options: EngineOptions) -> Engine:
    """Load the model once; `spec` is a built-in name or 'package.module:factory'."""
    module_name, _, attribute = BUILT_IN.get(spec, spec).partition(":")
    factory = getattr(importlib.import_module(module_name), attribute)
    return factory(options)


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
