"""openai-whisper: the reference engine, fp32 on CPU, fp16 on a GPU (WA_COMPUTE_TYPE=auto).

It imports torch, so it is only imported when chosen. A model is a name that openai-whisper
downloads (tiny.en, base, small, ...) or a path to a .pt checkpoint. Like every engine it is
given one window of speech at a time by the pipeline (pipeline.py), decoded by PyAV rather than
by the ffmpeg program, so its memory is bounded the same way.
"""

from __future__ import annotations

import numpy as np
import torch
import whisper
from whisper.audio import N_FRAMES, N_SAMPLES, log_mel_spectrogram, pad_or_trim
from whisper.timing import add_word_timestamps
from whisper.tokenizer import get_tokenizer

from whisper_automation.transcription.engines.base import EngineOptions, beam_width, describe_engine
from whisper_automation.transcription.realign import timed_as_found
from whisper_automation.transcription.speech import Segment, Speech, Transcript, Word

RANDOM_SEED = 0


class OpenAIWhisperEngine:
    name = "openai-whisper"
    clips_apart = False  # decodes the joined speech 30 s at a time, by its own timestamps

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.model = options.model
        if options.threads:
            torch.set_num_threads(options.threads)
        self._model = whisper.load_model(options.model, device=options.device)
        # fp16 only on a GPU (openai-whisper warns and falls back to fp32 on a CPU).
        self._fp16 = options.device.startswith("cuda") and options.compute_type == "float16"

    def describe(self) -> dict:
        return describe_engine(self.name, self.options,
                               compute_type="float16" if self._fp16 else "float32")

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        beam = beam_width(beam_size, self.options)
        # The temperature fallback samples from torch's generator: seeded for every window, so
        # the same recording gives the same words in every run (faster.RANDOM_SEED).
        torch.manual_seed(RANDOM_SEED)
        # Same decoding as openai-whisper's CLI: beam search when beam > 1, best_of 5 for the
        # temperature fallback, conditioned on the previous text (unless there is none).
        output = self._model.transcribe(
            speech.audio, language=language, fp16=self._fp16, verbose=None,
            beam_size=beam if beam > 1 else None, best_of=5, word_timestamps=True,
            initial_prompt=prompt or None, condition_on_previous_text=prompt is not None)
        return Transcript([_segment(s) for s in output["segments"]], output["language"])

    def align_words(self, audio: np.ndarray, groups: list[list[Word]], language: str
                    ) -> list[list[Word]] | None:
        """The words of `groups` (each group consecutive words of one segment, timed on
        `audio`'s clock; `audio` at most 30 s) timed again by aligning them all with `audio`,
        as openai-whisper times the words of a window it decoded (realign.py says when)."""
        model = self._model
        mel = log_mel_spectrogram(audio, model.dims.n_mels, padding=N_SAMPLES)
        frames = min(N_FRAMES, mel.shape[-1] - N_FRAMES)
        mel = pad_or_trim(mel[:, :frames], N_FRAMES).to(model.device)
        mel = mel.to(torch.float16 if self._fp16 else torch.float32)
        tokenizer = get_tokenizer(model.is_multilingual, num_languages=model.num_languages,
                                  language=language or "en", task="transcribe")
        pieces = [{"seek": 0, "start": group[0].start, "end": group[-1].end,
                   "tokens": tokenizer.encode("".join(word.word for word in group))}
                  for group in groups]
        add_word_timestamps(segments=pieces, model=model, tokenizer=tokenizer, mel=mel,
                            num_frames=frames, last_speech_timestamp=0.0)
        return timed_as_found(groups, [piece.get("words") or [] for piece in pieces])


def _segment(piece: dict) -> Segment:
    """openai-whisper's segment (a dict) as ours: times and probabilities to the millisecond;
    "words": [] stays in the JSON, as openai-whisper lists it."""
    return Segment(start=round(float(piece["start"]), 3), end=round(float(piece["end"]), 3),
                   text=piece["text"],
                   words=[Word(start=round(float(w["start"]), 3), end=round(float(w["end"]), 3),
                               word=w["word"], probability=round(float(w["probability"]), 3))
                          for w in piece.get("words", [])],
                   avg_logprob=piece["avg_logprob"], no_speech_prob=piece["no_speech_prob"],
                   lists_no_words=True)
