"""openai-whisper: the reference engine, fp32 on CPU (fp16 is GPU only).

It imports torch, so it is only imported when chosen. A model is a name that openai-whisper
downloads (tiny.en, base, small, ...) or a path to a .pt checkpoint.
"""

from __future__ import annotations

import torch
import whisper

from .base import AudioError, EngineOptions, result_from_segments

SAMPLE_RATE = 16_000


class OpenAIWhisperEngine:
    name = "openai-whisper"

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.model = options.model
        if options.threads:
            torch.set_num_threads(options.threads)
        self._model = whisper.load_model(options.model, device="cpu")

    def describe(self) -> dict:
        return {"engine": self.name, "model": self.model, "compute_type": "float32",
                "beam_size": self.options.beam_size, "threads": self.options.threads}

    def transcribe(self, audio_path: str) -> dict:
        try:
            audio = whisper.load_audio(audio_path)
        except RuntimeError as error:
            raise AudioError(f"cannot decode audio ({str(error).strip()[-300:]})") from None
        if audio.size == 0:
            raise AudioError("no decodable audio in the file")
        beam = self.options.beam_size
        # Same decoding as openai-whisper's CLI: beam search when beam > 1, best_of 5 for the
        # temperature fallback, conditioned on the previous text.
        output = self._model.transcribe(
            audio, language=self.options.language, fp16=False, verbose=None,
            beam_size=beam if beam > 1 else None, best_of=5)
        segments = [{"id": s["id"], "start": round(float(s["start"]), 3),
                     "end": round(float(s["end"]), 3), "text": s["text"],
                     "avg_logprob": s["avg_logprob"], "no_speech_prob": s["no_speech_prob"]}
                    for s in output["segments"]]
        return result_from_segments(segments, output["language"], audio.size / SAMPLE_RATE)
