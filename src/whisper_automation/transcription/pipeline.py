"""Whole recordings through any engine: bounded memory, silences skipped, nothing silently lost.

    stream decode -> windows cut at pauses -> VAD speech joined -> engine -> recording's clock
                  -> gaps (speech with no word) transcribed again alone -> one seamless result

The engines only ever see one window of speech (speech.Speech), so a worker's memory
depends on WA_WINDOW_SECONDS, not on the recording's length: an hour-long reading costs what a
five-minute one does. Every engine gets the same decoding (PyAV), the same VAD and the same
check for skipped speech, so they differ only in how they decode Whisper.
"""

from __future__ import annotations

import logging
from collections.abc import Generator
from dataclasses import dataclass, replace
from itertools import pairwise

import numpy as np

from whisper_automation.transcription.audio import probe_duration, stream_samples
from whisper_automation.transcription.coverage import (
    CUT_GAP_SECONDS,
    WORD_SLACK_SECONDS,
    Gap,
    count_words,
    covered_spans,
    find_gaps,
    misplaced_copies,
    orphaned_neighbours,
    retried_words,
    spans_cut,
    speech_cuts,
    utterances,
    widen,
    without_end_filler,
    without_unheard_words,
    without_words,
    words_inside,
)
from whisper_automation.transcription.realign import clips_to_realign, realigned
from whisper_automation.transcription.speech import (
    SAMPLE_RATE,
    AudioError,
    Coverage,
    Result,
    Segment,
    SpeechEngine,
    auto_beam_size,
    result_from_segments,
    split_long_segments,
)
from whisper_automation.transcription.windows import (
    Region,
    TimeMap,
    Window,
    cut_windows,
    join_speech,
    pause_near,
)

log = logging.getLogger(__name__)

PROMPT_CHARACTERS = 400  # text carried into the next window as context, as Whisper does
# A window hands back what follows its last finished sentence (resume_point), looked for in
# its last RESUME_SEARCH_SECONDS.
RESUME_SEARCH_SECONDS = 30.0
SENTENCE_ENDS = (".", "?", "!")
RECOVERY_ROUNDS = 3  # passes over one skipped stretch, while each hears more than the last
# A skipped stretch's loudness is compared with the transcribed voice's within this many
# seconds of it (a recording's level drifts; joined recordings differ).
VOICE_LEVEL_SECONDS = 20.0


def transcribe_file(engine: SpeechEngine, audio_path: str) -> Result:
    """Transcribe one recording with `engine`, window by window, with its Coverage (rounded as
    a done record keeps it). Raises AudioError when the file holds no decodable audio."""
    options = engine.options  # type: ignore[attr-defined]
    beam = options.beam_size or auto_beam_size(probe_duration(audio_path))
    segments: list[Segment] = []
    coverage = Coverage()
    language = options.language
    prompt = ""  # with context, though nothing came before (None would mean without context)
    duration = 0.0
    windows = cut_windows(stream_samples(audio_path), options.window_seconds, options.vad)
    window = next(windows, None)
    while window is not None:
        coverage.windows += 1
        if window.offset:
            coverage.seams.append(window.offset)
        duration = window.end
        found, language = _transcribe_window(engine, window, prompt, language, beam)
        found, unheard = without_unheard_words(found)
        coverage.unheard_words += unheard
        if window.last:
            found, fillers = without_end_filler(found)
            coverage.unheard_words += fillers
        handback = None if window.last or not options.vad else resume_point(found, window)
        resume = handback.resume if handback else None
        if handback:  # the rest is decoded again at the start of the next window
            found = words_inside(found, window.offset, handback.keep_before)
            window = window.up_to(handback.resume)
        coverage.speech_seconds += sum(end - start for start, end in window.regions)
        if options.vad and options.recover_seconds:
            found = _recover_gaps(engine, window, found, language, beam,
                                  options.recover_seconds, coverage)
        segments += found
        prompt = "".join(segment.text for segment in found)[-PROMPT_CHARACTERS:] or prompt
        window = _next_window(windows, resume)
    if duration == 0.0:
        raise AudioError("no decodable audio in the file")
    return result_from_segments(split_long_segments(segments), language or "", duration,
                                coverage.rounded())


def _next_window(windows: Generator[Window, float | None, None], resume: float | None
                 ) -> Window | None:
    try:
        return windows.send(resume)
    except StopIteration:
        return None


@dataclass(frozen=True)
class Handback:
    """The tail of a window decoded again in the next one: its words from `keep_before` on are
    dropped, and the next window starts at `resume`, in the pause after the kept words. Words
    timed between the two lie in that pause, where nobody spoke: an end-of-input filler."""

    keep_before: float
    resume: float


def resume_point(segments: list[Segment], window: Window) -> Handback | None:
    """Where the next window should start: in the pause after the last sentence end that some
    word follows, so that whatever the window's input ended on is decoded again, with what
    follows it, at the start of the next window.

    Whisper treats the end of its input as the end of the recording: the last words before a
    window's cut come out unfinished, guessed or followed by a filler it was trained on
    ("Thank you."; a repeated word), measured at the seams of hard/...jerome..._phone.mp3 and
    of the suite's seam test. Handing the tail back costs a few seconds of decoding per window,
    and makes a window's seam a sentence end Whisper chose rather than a pause the VAD chose.
    None: no sentence end followed by more words in the window's last RESUME_SEARCH_SECONDS
    (nor in its second half), so the window ends at its cut as before."""
    words = sorted((word for segment in segments for word in segment.words),
                   key=lambda word: word.start)
    earliest = max(window.end - RESUME_SEARCH_SECONDS, window.offset + window.seconds / 2)
    latest = window.end
    for before, after in reversed(list(pairwise(words))):
        if before.end < earliest:
            break
        if before.end > latest or not before.word.rstrip().endswith(SENTENCE_ENDS):
            continue
        boundary = (before.end + after.start) / 2
        moment = pause_near(window, boundary)
        if moment is not None and earliest <= moment <= latest:
            return Handback(keep_before=min(boundary, moment), resume=moment)
    return None


def _transcribe_window(engine: SpeechEngine, window: Window, prompt: str | None,
                       language: str | None, beam: int) -> tuple[list[Segment], str | None]:
    speech, clock = join_speech(window.audio, window.regions, window.offset)
    if not speech.audio.size:
        return [], language
    transcript = engine.transcribe_speech(speech, prompt, language, beam)
    return [_on_clock(segment, clock) for segment in transcript.segments], transcript.language


def _recover_gaps(engine: SpeechEngine, window: Window, segments: list[Segment],
                  language: str | None, beam: int, min_seconds: float, coverage: Coverage
                  ) -> list[Segment]:
    """Transcribe each stretch of speech that has no word again, alone and without the previous
    text as prompt (a prompt is what lets Whisper skip ahead), together with the stretched
    words around it; where that pass hears more words, they replace the first pass's there.
    Returns the window's segments, spliced."""
    regions = [(window.offset + start, window.offset + end) for start, end in window.regions]
    quieter_db = engine.options.quieter_voice_db  # type: ignore[attr-defined]
    # A 30 s cut is a clip's edge only where the engine decodes clips apart; an engine that
    # does not say (one loaded as 'module:factory', written before this) decodes across them.
    cuts = speech_cuts(regions) if getattr(engine, "clips_apart", False) else []
    spliced: list[Region] = []
    for gap in find_gaps(regions, covered_spans(segments), min(min_seconds, CUT_GAP_SECONDS)):
        if gap.speech_seconds < min_seconds and not spans_cut(gap, cuts):
            continue
        coverage.gaps_found += 1
        if quieter_db and _quieter_voice(window, gap, segments, quieter_db):
            coverage.uncovered.append((gap.start, gap.end))
            coverage.uncovered_seconds += gap.speech_seconds
            coverage.quieter_seconds += gap.speech_seconds
            log.info("%.1f s of quieter speech at %.1f-%.1f s left out: another voice",
                     gap.speech_seconds, gap.start, gap.end)
            continue
        segments = _recover_gap(engine, window, segments, gap, language, beam, min_seconds,
                                spliced)
        left = find_gaps(gap.pieces, covered_spans(segments), 0.0)
        left_seconds = sum(piece.speech_seconds for piece in left)
        coverage.recovered_seconds += gap.speech_seconds - left_seconds
        still = [piece for piece in left if piece.speech_seconds >= min_seconds]
        coverage.uncovered += [(piece.start, piece.end) for piece in still]
        coverage.uncovered_seconds += sum(piece.speech_seconds for piece in still)
        log.info("recovered %.1f of %.1f s of skipped speech at %.1f-%.1f s",
                 gap.speech_seconds - left_seconds, gap.speech_seconds, gap.start, gap.end)
    return _realign_spliced_clips(engine, window, segments, spliced, language)


def _realign_spliced_clips(engine: SpeechEngine, window: Window, segments: list[Segment],
                           spliced: list[Region], language: str | None) -> list[Segment]:
    """Each clip a retry was spliced into, its words timed again with its whole text
    (realign.py); engines without an aligner keep their times."""
    align = getattr(engine, "align_words", None)
    if align is None or not spliced:
        return segments
    speech, clock = join_speech(window.audio, window.regions, window.offset)
    for clip in clips_to_realign(speech, clock, spliced):
        segments = realigned(segments, speech, clock, clip, language or "", align)
    return segments


def _quieter_voice(window: Window, gap: Gap, segments: list[Segment], db: float) -> bool:
    """Whether the gap's speech is `db` or more below the voice transcribed on each side of it.

    The VAD hears any voice; Whisper, given the speaker in context, writes what the speaker
    says and leaves a quieter voice behind them (a television, someone in the next room)
    unwritten, and a gap there is no skipped passage. Transcribed again on its own, with
    nothing louder to follow, that voice is written into the transcript (measured: the bedtime
    readings with another reader 18 dB down in the room, the benchmark's `room`: every gap
    retried there was that voice, after the reader had stopped, 13.5-17 dB below the reader;
    the gaps retried on the rest of the corpus, skipped speech of the speaker, lay within 6 dB
    of the voice around them).
    Each side is measured apart and the quieter side counts: a reader who moves away from
    the microphone goes on, transcribed, at the level of the gap after it, and the gap is
    their own skipped speech (measured: the benchmark's `drop`, 12.8 s skipped right after a
    34 dB drop was left out as another voice while both sides were measured together)."""
    middle = (gap.start + gap.end) / 2
    before, after = [], []
    for word in (word for segment in segments for word in segment.words):
        if gap.start - VOICE_LEVEL_SECONDS <= word.start <= gap.end + VOICE_LEVEL_SECONDS:
            side = before if (word.start + word.end) / 2 < middle else after
            side.append((word.start, word.end))
    levels = [level for level in (_level_db(window, before), _level_db(window, after))
              if level is not None]
    gap_level = _level_db(window, gap.pieces)
    return bool(levels) and gap_level is not None and gap_level <= min(levels) - db


def _level_db(window: Window, spans: list[Region]) -> float | None:
    """Mean power of the window's audio over `spans` (the recording's clock), in dB; None
    where the spans hold no audio."""
    total, count = 0.0, 0
    for start, end in spans:
        first = max(0, round((start - window.offset) * SAMPLE_RATE))
        last = min(len(window.audio), round((end - window.offset) * SAMPLE_RATE))
        if last > first:
            piece = window.audio[first:last].astype(np.float64)
            total += float(np.dot(piece, piece))
            count += last - first
    if not count:
        return None
    return 10 * float(np.log10(total / count + 1e-12))


def _recover_gap(engine: SpeechEngine, window: Window, segments: list[Segment], gap: Gap,
                 language: str | None, beam: int, min_seconds: float, spliced: list[Region]
                 ) -> list[Segment]:
    """Up to RECOVERY_ROUNDS passes over what is left of one gap, while each pass hears more;
    each stretch spliced in is added to `spliced`.

    Whisper may stop a retry after its first sentence ("CHAPTER VI." and end of text, where
    the rest of the stretch is a LibriVox preamble it was trained to skip); the rest, tried
    again on its own, is usually heard."""
    targets = utterances(gap, min_seconds)
    for _ in range(RECOVERY_ROUNDS):
        progress = False
        for target in targets:
            for start, end in _stretches_to_try(target, segments):
                retried = _retry_stretch(engine, window, segments, start, end, language, beam)
                if retried is None:
                    continue
                segments, heard = retried
                spliced.append((start, end))
                for copy_start, copy_end in misplaced_copies(segments, heard, start, end):
                    again = _retry_stretch(engine, window, segments, copy_start, copy_end,
                                           language, beam)
                    if again:
                        segments = again[0]
                        spliced.append((copy_start, copy_end))
                progress = True
                break
        targets = [part for left in find_gaps(gap.pieces, covered_spans(segments), min_seconds)
                   for part in utterances(left, min_seconds)]
        if not (progress and targets):
            break
    return segments


def _retry_stretch(engine: SpeechEngine, window: Window, segments: list[Segment], start: float,
                   end: float, language: str | None, beam: int
                   ) -> tuple[list[Segment], list[Segment]] | None:
    """[start, end) transcribed again, where that hears more words than the segments hold
    there: the segments with the retry's words in place of theirs, and the retry's words;
    otherwise None."""
    heard = retried_words(_transcribe_stretch(engine, window, start, end, language, beam),
                          segments, start, end)
    if count_words(heard) <= count_words(words_inside(segments, start, end)):
        return None
    kept = words_inside(segments, start, end, keep=False)
    orphans = orphaned_neighbours(segments, heard, start, end)
    spliced = (without_words(kept, orphans) if orphans else kept) + heard
    spliced.sort(key=lambda segment: segment.start)
    return spliced, heard


def _stretches_to_try(gap: Gap, segments: list[Segment]) -> list[Region]:
    """The gap grown over the stretched words that border it, then, if that differs, the gap
    alone. Grown is right when the skipped speech lies under a stretched word; but a retry that
    starts on a sentence's last word ("...why he had laughed." stretched over "End of chapter
    six") may stop after it, and only the gap alone is heard (measured with whisper.cpp on
    cfb_06: an 8-word run lost otherwise)."""
    grown = widen(gap.start, gap.end, segments)
    return [grown] if grown == (gap.start, gap.end) else [grown, (gap.start, gap.end)]


def _transcribe_stretch(engine: SpeechEngine, window: Window, start: float, end: float,
                        language: str | None, beam: int) -> list[Segment]:
    # A little audio either side, so a word at the edge is heard whole; of what falls outside
    # [start, end), only words the first pass did not write are kept (retried_words), so
    # nothing is written twice.
    start = start - window.offset - WORD_SLACK_SECONDS
    end = end - window.offset + WORD_SLACK_SECONDS
    pieces = [(max(start, region_start), min(end, region_end))
              for region_start, region_end in window.regions
              if region_start < end and region_end > start]
    speech, clock = join_speech(window.audio, pieces, window.offset)
    if not speech.audio.size:
        return []
    transcript = engine.transcribe_speech(speech, None, language, beam)
    heard, _ = without_unheard_words(transcript.segments)
    return [_on_clock(segment, clock) for segment in heard]


def _on_clock(segment: Segment, clock: TimeMap) -> Segment:
    """A segment with its times (and its words' times) on the recording's clock."""
    return replace(segment, start=clock.to_original(segment.start),
                   end=clock.to_original(segment.end, is_end=True),
                   words=[replace(word, start=clock.to_original(word.start),
                                  end=clock.to_original(word.end, is_end=True))
                          for word in segment.words])
