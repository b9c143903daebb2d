"""whisper.cpp through pywhispercpp (MIT; its manylinux wheel bundles libwhisper, ggml and
libgomp, nothing to compile). The model is a ggml file, or a CTranslate2 model converted once
into a cache folder (ggml.resolve_whispercpp_model), so `tiny.en` works offline.

Silence is the pipeline's job (its VAD hands over speech only), so whisper.cpp's own VAD stays
off. Word timings come from whisper.cpp's DTW token timestamps on the model's alignment heads,
the method faster-whisper and openai-whisper use: each token's time is where the alignment
moves past it, so a word ends at its last token's time and starts where the word before
ended. (whisper.cpp's other token timestamps, a heuristic on timestamp-token probabilities,
put the first words of jfk.flac inside 5 s of leading silence, and spread the words of
cfb_06.mp3 over the preamble the model had skipped, so the pipeline saw no gap to recover.)
Words are grouped the way the other engines return them, each with its leading space.
"""

from __future__ import annotations

import atexit
import logging
import os
import weakref
from typing import NamedTuple

# libgomp (OpenMP, which the wheel's ggml uses) busy-waits between parallel regions by
# default. Measured on a shared 2-core machine: 2 threads burnt 3x the CPU time of 1 and ran
# 3-4x slower than with passive waiting. Read once when the library loads, hence before the
# import; a value set by the user wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import _pywhispercpp as whisper_cpp  # the binding's documented C-API module
import numpy as np

from whisper_automation.transcription.engines.base import EngineOptions, beam_width, describe_engine
from whisper_automation.transcription.engines.ggml import read_header, resolve_whispercpp_model
from whisper_automation.transcription.speech import SAMPLE_RATE, Segment, Speech, Transcript, Word

log = logging.getLogger(__name__)
CENTISECONDS = 100.0
MIN_SAMPLES = SAMPLE_RATE // 10  # whisper.cpp refuses input shorter than 100 ms
# ggml's file types (the header's ftype, less 1000 x the quantisation version)
WEIGHT_TYPES = {0: "float32", 1: "float16", 2: "q4_0", 3: "q4_1", 7: "q8_0", 8: "q5_0", 9: "q5_1"}
LONE_WORD_SECONDS = 1.0  # longest first word when a segment has no other word to compare with
_LOG_LEVELS = {3: logging.WARNING, 4: logging.ERROR}  # ggml's WARN and ERROR; the rest DEBUG


class WhisperCppEngine:
    name = "whisper.cpp"
    clips_apart = False  # decodes the joined speech 30 s at a time, by its own timestamps

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.model = options.model
        self.model_path = resolve_whispercpp_model(options.model)
        _route_library_logs()
        header = read_header(self.model_path)
        self.weight_type = WEIGHT_TYPES.get(header["ftype"] % 1000, f"ggml ftype {header['ftype']}")
        context = whisper_cpp.whisper_init_from_file_with_params(
            str(self.model_path), _context_parameters(header, options.device))
        if context is None:
            raise RuntimeError(f"whisper.cpp could not load {self.model_path}")
        self._context = context
        weakref.finalize(self, whisper_cpp.whisper_free, context)
        self._multilingual = bool(whisper_cpp.whisper_is_multilingual(context))
        self._fixed_language = "" if self._multilingual else "en"  # "" = not known yet

    def describe(self) -> dict:
        return describe_engine(self.name, self.options, model_file=str(self.model_path),
                               compute_type=self.weight_type)

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        audio = np.ascontiguousarray(speech.audio, dtype=np.float32)
        if len(audio) < MIN_SAMPLES:
            return Transcript(segments=[], language=language or self._fixed_language)
        if self._multilingual and not language:
            language = self._detect_language(audio)
        params = self._parameters(prompt, language, beam_width(beam_size, self.options))
        code = whisper_cpp.whisper_full(self._context, params, audio, len(audio))
        if code != 0:
            raise RuntimeError(f"whisper.cpp failed to transcribe (code {code})")
        detected = whisper_cpp.whisper_lang_str(whisper_cpp.whisper_full_lang_id(self._context))
        return Transcript(segments=self._segments(), language=detected)

    def _detect_language(self, audio: np.ndarray) -> str:
        """The language of the first 30 s. Done here rather than with whisper.cpp's "auto":
        its DTW step looks the language up by the name "auto", fails, and aligns the words
        against a token sequence without the language token."""
        context, threads = self._context, max(1, self.options.threads)
        whisper_cpp.whisper_pcm_to_mel(context, audio, len(audio), threads)
        probabilities = np.zeros(whisper_cpp.whisper_lang_max_id() + 1, dtype=np.float32)
        found = whisper_cpp.whisper_lang_auto_detect(context, 0, threads, probabilities)
        if found < 0:
            raise RuntimeError("whisper.cpp could not detect the language")
        return whisper_cpp.whisper_lang_str(found)

    def _parameters(self, prompt: str | None, language: str | None, beam: int):
        strategy = whisper_cpp.whisper_sampling_strategy
        params = whisper_cpp.whisper_full_default_params(
            strategy.WHISPER_SAMPLING_BEAM_SEARCH if beam > 1 else strategy.WHISPER_SAMPLING_GREEDY)
        params.n_threads = max(1, self.options.threads)
        params.print_progress = False
        params.print_realtime = False
        params.print_timestamps = False
        params.token_timestamps = True
        # As the other engines decode: beam search when beam > 1, best of 5 samples for the
        # temperature fallback, non-speech symbols suppressed (openai-whisper's "-1").
        params.beam_search = {"beam_size": beam, "patience": -1.0}
        params.greedy = {"best_of": 5}
        params.suppress_nst = True
        # whisper.cpp keeps the last text of a call for the next call (its "past prompt"), then
        # conditions each 30 s piece on the text before it. Each call starts clean here
        # (no_context clears the past, then the prompt is put in its place), as the pipeline
        # carries the text across windows; None turns conditioning off for the whole call.
        params.no_context = True
        if prompt is None:
            params.n_max_text_ctx = 0
        elif prompt:
            params.initial_prompt = prompt
        params.language = language if self._multilingual and language else "en"
        return params

    def _segments(self) -> list[Segment]:
        context = self._context
        segments = []
        for index in range(whisper_cpp.whisper_full_n_segments(context)):
            start = whisper_cpp.whisper_full_get_segment_t0(context, index) / CENTISECONDS
            end = whisper_cpp.whisper_full_get_segment_t1(context, index) / CENTISECONDS
            words = group_words(self._tokens(index), start, max(start, end))
            if words:  # timed by its words, as faster-whisper times segments
                segments.append(Segment(start=words[0].start, end=words[-1].end,
                                        text="".join(word.word for word in words), words=words))
        return segments

    def _tokens(self, segment: int) -> list[Token]:
        """The segment's text tokens (timestamps and other special tokens left out)."""
        context = self._context
        end_of_text = whisper_cpp.whisper_token_eot(context)
        tokens = []
        for index in range(whisper_cpp.whisper_full_n_tokens(context, segment)):
            data = whisper_cpp.whisper_full_get_token_data(context, segment, index)
            if data.id >= end_of_text:
                continue
            # DTW can fail on a token (t_dtw -1); the heuristic end stands in for it.
            end = data.t_dtw if data.t_dtw >= 0 else data.t1
            tokens.append(Token(whisper_cpp.whisper_token_to_bytes(context, data.id),
                                end / CENTISECONDS, float(data.p)))
        return tokens


class Token(NamedTuple):
    text: bytes
    end: float  # seconds: where the alignment moves past this token
    probability: float


def group_words(tokens: list[Token], segment_start: float, segment_end: float) -> list[Word]:
    """Tokens into words: a token that starts with a space starts a word, the others (word
    pieces, punctuation) join the word before. Bytes are joined before decoding, as one
    character can be split over two tokens. A word ends at its last token's time and starts
    where the word before ended; the segment's first word starts no earlier than its end minus
    twice the median length of the others (as openai-whisper trims a first word after a
    pause)."""
    groups: list[list[Token]] = []
    for token in tokens:
        if not groups or token.text.startswith(b" "):
            groups.append([])
        groups[-1].append(token)
    ends = np.maximum.accumulate([min(max(group[-1].end, segment_start), segment_end)
                                  for group in groups]) if groups else []
    durations = np.diff(ends)  # of the words after the first: the first may hold a pause
    longest = 2 * float(np.median(durations)) if len(durations) else LONE_WORD_SECONDS
    words = []
    for index, group in enumerate(groups):
        text = b"".join(token.text for token in group).decode("utf-8", errors="replace")
        end = float(ends[index])
        start = float(ends[index - 1]) if index else max(segment_start, end - longest)
        if text.strip():
            words.append(Word(start=round(start, 3), end=round(end, 3), word=text,
                              probability=round(sum(t.probability for t in group) / len(group),
                                                3)))
    return words


# Alignment heads by model size (whisper.cpp's presets), chosen from the ggml file's header.
_PRESETS = {4: "TINY", 6: "BASE", 12: "SMALL", 24: "MEDIUM"}


def _context_parameters(header: dict[str, int], device: str = "cpu"):
    """Context parameters with DTW token timestamps on the model's alignment heads. DTW does
    not run with flash attention, so that is off (measured together: about 10 % more CPU time
    and 75 MB more memory on tiny.en, docs/whispercpp.md)."""
    parameters = whisper_cpp.whisper_context_default_params()
    # The device devices.resolve_device chose (a GPU only in a CUDA build of whisper.cpp).
    kind, _, index = device.partition(":")
    parameters.use_gpu = kind == "cuda"
    parameters.gpu_device = int(index or 0)
    parameters.flash_attn = False
    parameters.dtw_token_timestamps = True
    presets = whisper_cpp.whisper_alignment_heads_preset
    english_only = header["n_vocab"] < 51865
    layers = header["n_audio_layer"]
    if layers in _PRESETS:
        name = _PRESETS[layers] + ("_EN" if english_only else "")
    elif layers == 32:
        name = ("LARGE_V3_TURBO" if header["n_text_layer"] == 4 else
                "LARGE_V3" if header["n_vocab"] >= 51866 else "LARGE_V2")
    else:  # not a standard size: the top half of the decoder's heads, as openai-whisper does
        parameters.dtw_aheads_preset = presets.WHISPER_AHEADS_N_TOP_MOST
        parameters.dtw_n_top = max(1, header["n_text_layer"] // 2)
        return parameters
    parameters.dtw_aheads_preset = getattr(presets, f"WHISPER_AHEADS_{name}")
    return parameters


_routed = False


def _route_library_logs() -> None:
    """whisper.cpp's log lines go to our logger (DEBUG, or WARNING/ERROR), not to stderr, so a
    worker's log stays one format. The callback is removed at exit: the library logs while
    the interpreter shuts down, when Python code can no longer be called."""
    global _routed
    if _routed:
        return
    whisper_cpp.whisper_log_set(
        lambda level, text: log.log(_LOG_LEVELS.get(level, logging.DEBUG), "%s", text.rstrip()))
    atexit.register(whisper_cpp.whisper_log_set, None)
    _routed = True
