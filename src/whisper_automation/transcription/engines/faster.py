"""faster-whisper (CTranslate2): the default engine. int8 on CPU, float16 on a GPU.

The pipeline (pipeline.py) hands it one window of speech at a time, silences already removed by
the shared VAD, so faster-whisper's own vad_filter stays off (running it again would cost a
second VAD pass). Word timestamps are always on: they are how the pipeline finds speech the
model skipped, and how long segments become subtitle-sized cues.
WA_BATCH_SIZE > 0 selects the batched pipeline: the window's <= 30 s clips are decoded together;
a skipped passage tried again is decoded alone, sequentially, either way.
A window's clips are decoded batch by batch (WA_BATCH_SIZE clips each), each batch on whichever
decoding group is free: a worker of several threads has one group per thread, one thread each
(CTranslate2's num_workers), rather than one group on all threads: on 2 cores CTranslate2's
second intra-op thread added little (docs/benchmarks.md). A worker in a CPU pool
(jobs/cores.py) prepares groups for the CPUs it may borrow and, batch by batch, uses as many as
are idle.
This module never imports torch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager, contextmanager, nullcontext

import ctranslate2
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.audio import pad_or_trim
from faster_whisper.tokenizer import Tokenizer
from faster_whisper.transcribe import Segment as FasterSegment
from faster_whisper.transcribe import get_compression_ratio

from whisper_automation.transcription.engines.base import EngineOptions, beam_width, describe_engine
from whisper_automation.transcription.engines.models import resolve_faster_whisper_model
from whisper_automation.transcription.realign import timed_as_found
from whisper_automation.transcription.speech import (
    SAMPLE_RATE,
    CpuLender,
    Segment,
    Speech,
    Transcript,
    Word,
)

log = logging.getLogger(__name__)

LEND_POLL_SECONDS = 0.5  # how often an idle decoding group asks for a CPU lent
# Whisper's own test of a decoded 30 s window, with openai-whisper's and faster-whisper's
# thresholds: text that compresses more than 2.4x is a repetition loop, a mean token
# log-probability under -1 a guess, unless the model also says "no speech" (over 0.6). The
# sequential decoder then decodes the window again at rising temperatures; the batched one has
# no such fallback, so a batched clip that fails the test is decoded again sequentially.
COMPRESSION_RATIO_THRESHOLD = 2.4
LOG_PROB_THRESHOLD = -1.0
NO_SPEECH_THRESHOLD = 0.6
# When a decoding fails that test, Whisper decodes it again at a higher temperature, which
# samples: the words then depend on CTranslate2's random generator, seeded at random in every
# process unless set. Each decoding thread seeds its own generator from this seed at its first
# draw (a later set_random_seed does not restart it), so it is set once, before the model
# exists: a worker of one decoding group then writes the same words every run. Measured: the
# hour-long evening transcribed twice at once by the same code lost a 36-word LibriVox preamble
# in one run and 5 words at most in the other (WER 5.17 against 4.82 %); seeded, the two runs
# were identical. With several groups (threads, CPUs lent) a retry may land on either group's
# thread, whose generator has drawn a different number of times: fewer differences, not none.
RANDOM_SEED = 0


# faster-whisper's own defaults (transcribe's prepend_ and append_punctuations): a word timed
# again is split from its punctuation as the first pass split it.
_PUNCTUATIONS = tuple(inspect.signature(WhisperModel.transcribe).parameters[name].default
                      for name in ("prepend_punctuations", "append_punctuations"))


class ClipByClipEncoderModel(WhisperModel):
    """A WhisperModel whose encoder takes a batch one clip at a time; decoding stays batched.

    The encoder's self-attention holds heads x 1500 x 1500 floats per 30 s clip (54 MB for
    tiny.en, 108 MB for small), so encoding a batch of clips at once multiplies that peak by
    the batch size, and on a CPU it bought no speed: cfb_00.mp3 (314 s) batched by 4 on one
    thread took 15.3 / 16.8 s encoded together and 14.7 / 16.3 s clip by clip, peak RSS 545
    against 414 MB (and 645 against 543 MB with two groups of one thread each).
    """

    # On a CPU it also keeps each clip's output of the window decoded last, by its features:
    # a clip a retry was spliced into is aligned again (realign.py) without being encoded
    # twice (the encoder was 70 % of that alignment's CPU: 0.69 of 0.98 s for tiny.en). Kept
    # until the next window's clips: 2.3 MB a clip for tiny.en (d_model 384), 7.7 MB for
    # large (1280), up to 11 clips in a 300 s window.

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kept: dict[bytes, np.ndarray] = {}

    def encode(self, features: np.ndarray) -> ctranslate2.StorageView:
        if features.ndim == 2:
            return super().encode(features)
        on_cpu = self.model.device == "cpu"
        if len(features) == 1 and not on_cpu:
            return super().encode(features)
        # Each clip's output (1500 x d_model floats, 2.3 MB for tiny.en) is copied out before
        # the next is encoded; the batch is put back together for the batched decoder.
        encode = super().encode  # bound here: zero-argument super() fails in a comprehension
        outputs = [np.array(encode(clip[np.newaxis])) for clip in features]
        if on_cpu:
            for clip, output in zip(features, outputs, strict=True):
                self.kept[features_key(clip)] = output
        return ctranslate2.StorageView.from_array(np.concatenate(outputs))

    def encode_kept(self, features: np.ndarray) -> ctranslate2.StorageView:
        """One clip's encoder output: the one kept from its window's decoding if there is
        one (the same features give the same output), else encoded now."""
        kept = self.kept.get(features_key(features))
        if kept is None:
            return super().encode(features)
        return ctranslate2.StorageView.from_array(kept)


def features_key(features: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(features).tobytes(), digest_size=16).digest()


class FasterWhisperEngine:
    name = "faster-whisper"

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self.model = options.model
        own = max(1, options.threads) if options.batch_size > 0 else 1
        groups = own + max(0, options.spare_threads) if options.batch_size > 0 else 1
        self._own_groups = own
        self.lender: CpuLender | None = None  # the worker's CPU pool, when it has one
        ctranslate2.set_random_seed(RANDOM_SEED)
        device, _, index = options.device.partition(":")  # "cpu" or "cuda:N"
        self._model = ClipByClipEncoderModel(resolve_faster_whisper_model(options.model),
                                             device=device, device_index=int(index or 0),
                                             compute_type=options.compute_type,
                                             cpu_threads=max(1, options.threads) // own,
                                             num_workers=groups)
        # One pipeline per group: a BatchedInferencePipeline keeps per-call state
        # (last_speech_timestamp), so two threads must not share one.
        self._pipelines = [BatchedInferencePipeline(self._model) for _ in range(groups)]
        self._batched = self._pipelines[0] if options.batch_size > 0 else None
        self._pool = ThreadPoolExecutor(groups) if groups > 1 else None

    @property
    def clips_apart(self) -> bool:
        return self._batched is not None

    def describe(self) -> dict:
        return describe_engine(self.name, self.options, compute_type=self.options.compute_type,
                               batch_size=self.options.batch_size if self._batched else 0)

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        pieces, info = self._decode(speech, prompt, language,
                                    beam_width(beam_size, self.options))
        return Transcript([_segment(piece) for piece in pieces], info.language)

    def _decode(self, speech: Speech, prompt: str | None, language: str | None, beam: int):
        # A skipped passage tried again (prompt None) always goes through the sequential
        # decoder: the batched one decodes without timestamp tokens, and without them Whisper
        # skips the very passages the retry is for (measured: on the first 30 s of cfb_06 the
        # batched retry heard 2 of 20 s of the LibriVox preamble, the sequential one all 20).
        # A window of one clip (a short recording, the tail of a long one) gains nothing from
        # batching, and the sequential decoder is the accurate one: with timestamps, context
        # and its temperature fallback, as whisper-ctranslate2 decodes (32 short clips: 4.6 %
        # WER as whisper-ctranslate2 beam 5, against 4.7 % batched; docs/benchmarks.md).
        if self._batched is not None and prompt is not None and len(speech.clips) > 1:
            return self._decode_batched(speech, prompt, language, beam)
        # Without a prompt (a skipped passage tried again) nothing earlier conditions it.
        return self._model.transcribe(
            speech.audio, language=language, beam_size=beam, vad_filter=False,
            word_timestamps=True, initial_prompt=prompt or None,
            condition_on_previous_text=prompt is not None)

    def _decode_batched(self, speech: Speech, prompt: str, language: str | None, beam: int):
        self._model.kept.clear()  # the last window's clips are done with
        batches = _batches(speech.clips, self.options.batch_size, self._own_groups)
        if language is None and len(batches) > 1:
            # Detected once, on the first batch, so that the window's batches agree (and the
            # language is not detected again per batch).
            first, info = self._decode_batch(0, speech, batches[0], prompt, None, beam)
            rest, _ = self._decode_batches(speech, batches[1:], prompt, info.language, beam)
            return first + rest, info
        return self._decode_batches(speech, batches, prompt, language, beam)

    def _decode_batches(self, speech: Speech, batches: list[list], prompt: str,
                        language: str | None, beam: int) -> tuple[list, object]:
        """Each batch on whichever group is free: this worker's own, and, batch by batch, one
        more per CPU idle elsewhere (the lender). Batches are the same whoever decodes them,
        so the words do not depend on how many CPUs were lent."""
        if self._pool is None or len(batches) == 1:
            decoded = [self._decode_batch(0, speech, clips, prompt, language, beam)
                       for clips in batches]
        else:
            decoded = _BatchScheduler(self, speech, batches, prompt, language, beam).run()
        return [piece for pieces, _ in decoded for piece in pieces], decoded[0][1]

    def _decode_batch(self, group: int, speech: Speech, clips: list, prompt: str,
                      language: str | None, beam: int) -> tuple[list, object]:
        pieces, info = self._pipelines[group].transcribe(
            speech.audio, language=language, beam_size=beam, batch_size=len(clips),
            vad_filter=False, clip_timestamps=[{"start": start, "end": end}
                                               for start, end in clips],
            word_timestamps=True, initial_prompt=prompt or None)
        by_clip = _pieces_by_clip(list(pieces), clips, self._model.frames_per_second)
        for index, clip in enumerate(clips):
            if _fails_whisper_test(by_clip[index]):
                by_clip[index] = self._decode_clip_again(speech, clip, prompt, info.language,
                                                         beam)
        return [piece for pieces in by_clip for piece in pieces], info

    def _decode_clip_again(self, speech: Speech, clip: tuple[float, float], prompt: str,
                           language: str, beam: int) -> list[FasterSegment]:
        """One clip through the sequential decoder (timestamp tokens, temperature fallback),
        its times moved back onto the window's clock."""
        start, end = clip
        audio = speech.audio[round(start * SAMPLE_RATE):round(end * SAMPLE_RATE)]
        pieces, _ = self._model.transcribe(
            audio, language=language, beam_size=beam, vad_filter=False, word_timestamps=True,
            initial_prompt=prompt or None, condition_on_previous_text=True)
        log.debug("clip %.1f-%.1f s decoded again sequentially", start, end)
        return [_shifted(piece, start) for piece in pieces]

    def align_words(self, audio: np.ndarray, groups: list[list[Word]], language: str
                    ) -> list[list[Word]] | None:
        """The words of `groups` (each group consecutive words of one segment, timed on
        `audio`'s clock; `audio` at most 30 s) timed again by aligning them all with `audio`,
        as faster-whisper times the words of a clip it decoded (realign.py says when). None
        where the alignment splits the text into other words than those given."""
        model = self._model
        features = pad_or_trim(model.feature_extractor(audio)[..., :-1])
        encoded = model.encode_kept(features[np.newaxis])
        tokenizer = Tokenizer(model.hf_tokenizer, model.model.is_multilingual,
                              task="transcribe", language=language or "en")
        pieces = [{"seek": 0, "start": group[0].start, "end": group[-1].end,
                   "tokens": tokenizer.encode("".join(word.word for word in group))}
                  for group in groups]
        clip_frames = int(math.ceil(len(audio) / SAMPLE_RATE) * model.frames_per_second)
        model.add_word_timestamps([pieces], tokenizer, encoded, [clip_frames],
                                  *_PUNCTUATIONS, 0.0)
        return timed_as_found(groups, [piece.get("words") or [] for piece in pieces])

    def borrowed(self, most: int) -> AbstractContextManager[int]:
        """CPUs idle elsewhere on the machine, for one batch."""
        if self.lender is None or most <= 0:
            return nullcontext(0)
        return self.lender.borrow(most)


class _BatchScheduler:
    """One window's batches over the engine's decoding groups.

    The worker's own groups (one per thread) take batches in order until none is left. The
    other groups decode only on a borrowed CPU: every LEND_POLL_SECONDS an idle one asks the
    lender for a CPU and, while it gets one, decodes a batch at a time, asking again before
    each (so a CPU is back with its owner one batch, a few seconds, after the owner wants it).
    Lending by the batch rather than by the window matters at the end of a run: the last
    worker with a file gets the CPUs that free up in the middle of its window."""

    def __init__(self, engine: FasterWhisperEngine, speech: Speech, batches: list[list],
                 prompt: str, language: str | None, beam: int) -> None:
        self.engine = engine
        self.decode = lambda group, clips: engine._decode_batch(group, speech, clips, prompt,
                                                                language, beam)
        self.todo = deque(enumerate(batches))
        self.done: dict[int, tuple[list, object]] = {}
        self.lock = threading.Lock()

    def run(self) -> list[tuple[list, object]]:
        engine = self.engine
        own = [engine._pool.submit(self._own, group) for group in range(engine._own_groups)]
        spare = range(engine._own_groups, len(engine._pipelines))
        lending: dict[int, Future] = {}
        next_ask = 0.0
        while not all(future.done() for future in own):
            if time.monotonic() >= next_ask:  # at most once per poll: asking is not free
                next_ask = time.monotonic() + LEND_POLL_SECONDS
                for group in spare:
                    if self.todo and engine.lender is not None and not (
                            group in lending and not lending[group].done()):
                        lending[group] = engine._pool.submit(self._borrowed, group)
            # Only futures still running: a finished one would end every wait at once.
            running = [future for future in (*own, *lending.values()) if not future.done()]
            wait(running, timeout=max(0.0, next_ask - time.monotonic()),
                 return_when=FIRST_COMPLETED)
        for future in [*own, *lending.values()]:
            future.result()  # waits for a borrowed group's last batch; raises its error
        return [self.done[index] for index in sorted(self.done)]

    def _take(self) -> tuple[int, list] | None:
        with self.lock:
            return self.todo.popleft() if self.todo else None

    def _own(self, group: int) -> None:
        with self._abandon_on_error():
            while (batch := self._take()) is not None:
                index, clips = batch
                self.done[index] = self.decode(group, clips)

    def _borrowed(self, group: int) -> None:
        with self._abandon_on_error():
            while self.todo:
                with self.engine.borrowed(1) as lent:
                    if not lent or (batch := self._take()) is None:
                        return
                    index, clips = batch
                    self.done[index] = self.decode(group, clips)

    @contextmanager
    def _abandon_on_error(self) -> Iterator[None]:
        """A batch that fails fails the window: the other groups take no more batches (and a
        borrowed CPU goes back at once) while run() reports the error."""
        try:
            yield
        except BaseException:
            with self.lock:
                self.todo.clear()
            raise


def _batches(clips: list, batch_size: int, groups: int) -> list[list]:
    """`clips` in consecutive batches of `batch_size`, smaller when there are too few clips to
    give each of the worker's own `groups` one."""
    size = max(1, min(batch_size, math.ceil(len(clips) / max(1, groups))))
    return [clips[first:first + size] for first in range(0, len(clips), size)]


def _pieces_by_clip(pieces: list[FasterSegment], clips: list[tuple[float, float]],
                    frames_per_second: int) -> list[list[FasterSegment]]:
    """The batched pipeline's segments per clip: each carries its clip's start as `seek`, in
    frames, computed as faster-whisper does (the start cut to a whole sample first)."""
    seeks = [int(int(start * SAMPLE_RATE) / SAMPLE_RATE * frames_per_second)
             for start, _ in clips]
    by_clip: list[list[FasterSegment]] = [[] for _ in clips]
    for piece in pieces:
        nearest = min(range(len(clips)), key=lambda index: abs(seeks[index] - piece.seek))
        by_clip[nearest].append(piece)
    return by_clip


def _fails_whisper_test(pieces: list[FasterSegment]) -> bool:
    """Whether one clip's decoding is what Whisper would decode again (see the thresholds);
    a clip decoded to nothing is left to the check for skipped speech."""
    text = "".join(piece.text for piece in pieces)
    if not text.strip():
        return False
    logprob, no_speech = pieces[0].avg_logprob, pieces[0].no_speech_prob  # one per clip
    if logprob < LOG_PROB_THRESHOLD and no_speech > NO_SPEECH_THRESHOLD:
        return False
    return (get_compression_ratio(text) > COMPRESSION_RATIO_THRESHOLD
            or logprob < LOG_PROB_THRESHOLD)


def _shifted(piece: FasterSegment, seconds: float) -> FasterSegment:
    words = [dataclasses.replace(word, start=word.start + seconds, end=word.end + seconds)
             for word in piece.words or []]
    return dataclasses.replace(piece, start=piece.start + seconds, end=piece.end + seconds,
                               words=words)


def _segment(piece: FasterSegment) -> Segment:
    """faster-whisper's segment as ours: times and probabilities to the millisecond."""
    return Segment(start=round(piece.start, 3), end=round(piece.end, 3), text=piece.text,
                   words=[Word(start=round(w.start, 3), end=round(w.end, 3), word=w.word,
                               probability=round(w.probability, 3)) for w in piece.words or []],
                   avg_logprob=piece.avg_logprob, no_speech_prob=piece.no_speech_prob)
