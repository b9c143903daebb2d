"""faster-whisper (CTranslate2): the default engine. int8 on CPU, voice activity detection on.

File by file by default; WA_BATCH_SIZE > 0 selects the batched pipeline, measured 10 % faster on
long recordings but 60 % more memory per worker (docs/benchmarks.md).

Without VAD, long recordings with pauses sometimes lose whole paragraphs (measured here: WER near
0.3 on such files), so silence skipping is on by default. This module never imports torch.
"""

from __future__ import annotations

import av
from faster_whisper import BatchedInferencePipeline, WhisperModel

from .base import AudioError, EngineOptions, result_from_segments, split_long_segments
from .models import resolve_faster_whisper_model


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.model = options.model
        self._model = WhisperModel(resolve_faster_whisper_model(options.model), device="cpu",
                                   compute_type=options.compute_type,
                                   cpu_threads=options.threads, num_workers=1)
        # The batched pipeline needs VAD to cut long audio into chunks; without VAD, or with
        # batch size 0, files go through the sequential `transcribe`.
        self._batched = BatchedInferencePipeline(self._model) \
            if options.batch_size > 0 and options.vad else None

    def describe(self) -> dict:
        return {"engine": self.name, "model": self.model,
                "compute_type": self.options.compute_type, "beam_size": self.options.beam_size,
                "vad": self.options.vad, "threads": self.options.threads,
                "batch_size": self.options.batch_size if self._batched else 0}

    def transcribe(self, audio_path: str) -> dict:
        try:
            pieces, info = self._run(audio_path)
            segments = [_segment(index, piece) for index, piece in enumerate(pieces)]
        except av.error.FFmpegError as error:
            raise AudioError(f"cannot decode audio ({error})") from None
        if not info.duration:
            raise AudioError("no decodable audio in the file")
        return result_from_segments(split_long_segments(segments), info.language,
                                    float(info.duration))


    def _run(self, audio_path: str):
        options = self.options
        if self._batched is None:
            return self._model.transcribe(audio_path, language=options.language,
                                          beam_size=options.beam_size, vad_filter=options.vad)
        # vad_parameters={} selects faster-whisper's VadOptions defaults (2 s minimum silence,
        # 400 ms padding), as the sequential path uses. The batched default (160 ms) cuts speech
        # at short pauses and, measured on the long recordings with pauses, dropped a whole
        # paragraph (WER 0.31 on one file): see docs/benchmarks.md.
        # Word timings (about 9 % more time, measured) let long chunks be cut into
        # subtitle-sized cues (split_long_segments).
        return self._batched.transcribe(audio_path, language=options.language,
                                        beam_size=options.beam_size,
                                        batch_size=options.batch_size, vad_parameters={},
                                        word_timestamps=True)


def _segment(index: int, piece) -> dict:
    segment: dict = {"id": index, "start": round(piece.start, 3), "end": round(piece.end, 3),
               "text": piece.text, "avg_logprob": piece.avg_logprob,
               "no_speech_prob": piece.no_speech_prob}
    if piece.words:
        segment["words"] = [{"word": w.word, "start": round(w.start, 3),
                             "end": round(w.end, 3), "probability": round(w.probability, 3)}
                            for w in piece.words]
    return segment
