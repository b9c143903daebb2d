"""The pipeline: windows, the recording's clock, and recovery of skipped speech, with a scripted
engine standing in for Whisper (the real engines are exercised in tests/integration)."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from tests.support.audio import JFK, join_with_pauses, samples_of, write_wav
from whisper_automation.transcription.engines.base import EngineOptions
from whisper_automation.transcription.pipeline import Coverage, _recover_gaps, transcribe_file
from whisper_automation.transcription.speech import (
    SAMPLE_RATE,
    AudioError,
    Result,
    Segment,
    Speech,
    Transcript,
    Word,
)
from whisper_automation.transcription.windows import Window

SKIPPED_SECONDS = 8.0


def heard(words: list[Word]) -> Transcript:
    """What a scripted engine answers: one segment of `words`."""
    return Transcript([Segment(start=words[0].start, end=words[-1].end,
                               text="".join(word.word for word in words), words=words)], "en")


class SkippingEngine:
    """Hears a word every half second of the speech it is given (each its own, by when it was
    said), but when decoding in context (a prompt) it skips the first SKIPPED_SECONDS, as
    Whisper sometimes does."""

    name = "scripted"
    clips_apart = False
    model = "none"

    def __init__(self, beam_size: int = 1, **options: float) -> None:
        self.options = EngineOptions("none", "en", "int8", beam_size, True, 1, **options)
        self.calls: list[tuple[float, str | None]] = []
        self.beams: set[int] = set()

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        self.calls.append((speech.seconds, prompt))
        self.beams.add(beam_size)
        skip = SKIPPED_SECONDS if prompt is not None else 0.0
        words = [Word(start=float(t), end=float(t) + 0.4, word=f" w{t:.1f}", probability=1.0)
                 for t in np.arange(skip, speech.seconds - 0.4, 0.5)]
        return heard(words) if words else Transcript([], "en")


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    audio, _ = join_with_pauses([samples_of(JFK)] * 16, pause_seconds=3.0)  # 222 s
    return write_wav(tmp_path_factory.mktemp("audio") / "joined.wav", audio)


def all_words(result: Result) -> list[Word]:
    return [word for segment in result.segments for word in segment.words]


def test_skipped_speech_is_transcribed_again_without_context_and_spliced_in(
        recording: Path) -> None:
    engine = SkippingEngine(window_seconds=60.0, recover_seconds=5.0)
    result = transcribe_file(engine, str(recording))
    coverage = result.coverage
    assert coverage is not None
    assert coverage.windows >= 4
    assert coverage.gaps_found == coverage.windows  # each window's start was skipped
    assert coverage.recovered_seconds >= 0.9 * coverage.windows * (SKIPPED_SECONDS - 0.5)
    assert coverage.uncovered_seconds == 0.0
    assert [prompt for _, prompt in engine.calls].count(None) == coverage.gaps_found


def test_spliced_words_are_in_order_and_never_overlap(recording: Path) -> None:
    result = transcribe_file(SkippingEngine(window_seconds=60.0), str(recording))
    words = all_words(result)
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    for before, after in itertools.pairwise(words):
        assert after.start >= before.end - 1e-6


def test_words_sit_on_the_recordings_clock_inside_speech(recording: Path) -> None:
    result = transcribe_file(SkippingEngine(window_seconds=60.0), str(recording))
    assert result.duration == pytest.approx(16 * 11.0 + 15 * 3.0, abs=0.5)
    # The pauses are 3 s of digital silence after each 11 s sentence: no word may start in them
    # (the VAD pads speech by 0.4 s either side, so their edges may hold a word).
    for word in all_words(result):
        assert word.start <= result.duration
        position = word.start % (11.0 + 3.0)
        assert not 11.0 + 0.5 < position < 14.0 - 0.5, word


class RepeatingEngine(SkippingEngine):
    """In context it writes the text before again where the first SKIPPED_SECONDS were spoken,
    every word of it at one instant (as the alignment times words with no audio under them),
    and hears what follows; alone, it hears everything."""

    REPEATED = 6

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        transcript = super().transcribe_speech(speech, prompt, language, beam_size)
        if prompt is None or not transcript.segments:
            return transcript
        again = [Word(start=0.0, end=0.0, word=" again", probability=0.9)] * self.REPEATED
        return heard(again + transcript.segments[0].words)


def test_words_written_with_no_audio_under_them_are_dropped_and_the_speech_heard_again(
        recording: Path) -> None:
    result = transcribe_file(RepeatingEngine(window_seconds=60.0), str(recording))
    coverage = result.coverage
    assert coverage.unheard_words == RepeatingEngine.REPEATED * coverage.windows
    assert " again" not in [word.word for word in all_words(result)]
    # What was spoken under them was retried alone: nothing is missing.
    assert coverage.gaps_found == coverage.windows
    assert coverage.uncovered_seconds == 0.0
    assert Result.from_dict(result.to_dict()).coverage.unheard_words == coverage.unheard_words


def test_with_recovery_off_nothing_is_transcribed_twice(
        recording: Path) -> None:
    engine = SkippingEngine(window_seconds=60.0, recover_seconds=0.0)
    result = transcribe_file(engine, str(recording))
    assert result.coverage.gaps_found == 0
    assert all(prompt is not None for _, prompt in engine.calls)


def test_auto_beam_is_five_for_a_short_recording_and_greedy_for_a_long_one(
        recording: Path, tmp_path: Path) -> None:
    short = write_wav(tmp_path / "short.wav", samples_of(JFK))  # 11 s
    for path, beam in [(short, 5), (recording, 1)]:  # recording: 222 s, with skipped speech
        engine = SkippingEngine(beam_size=0)
        transcribe_file(engine, str(path))
        assert engine.beams == {beam}  # the first pass and the retries alike


def test_a_set_beam_is_used_whatever_the_length(tmp_path: Path) -> None:
    engine = SkippingEngine(beam_size=3)
    transcribe_file(engine, str(write_wav(tmp_path / "short.wav", samples_of(JFK))))
    assert engine.beams == {3}


def test_a_file_without_audio_is_an_audio_error(tmp_path: Path) -> None:
    silent = tmp_path / "empty.wav"
    write_wav(silent, np.zeros(0, dtype=np.float32))
    with pytest.raises(AudioError):
        transcribe_file(SkippingEngine(), str(silent))


def test_text_that_is_not_audio_is_an_audio_error(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp3"
    fake.write_text("not audio at all")
    with pytest.raises(AudioError):
        transcribe_file(SkippingEngine(), str(fake))


def every_half_second(seconds: float, step: float = 0.5) -> list[Word]:
    return [Word(start=float(t), end=float(t) + 0.4, word=" w", probability=1.0)
            for t in np.arange(0.0, seconds - 0.4, step)]


class RetryScriptEngine:
    """A scripted engine for the retries alone: records how long each stretch it was given
    was, and answers what `words_heard` says Whisper would hear in it."""

    name = "scripted"
    clips_apart = True  # decodes clips apart, as the batched pipeline does
    model = "none"

    def __init__(self, limit: float) -> None:
        self.options = EngineOptions("none", "en", "int8", 1, True, 1, recover_seconds=2.0)
        self.limit = limit
        self.retries: list[float] = []

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        self.retries.append(speech.seconds)
        return heard(self.words_heard(speech.seconds))

    def words_heard(self, seconds: float) -> list[Word]:
        raise NotImplementedError


class SentenceEndEngine(RetryScriptEngine):
    """A retry longer than `limit` starts on the stretched last word of a sentence: it hears
    that word and stops (Whisper's end of text after a full stop); a retry of the skipped
    speech alone hears it all, a word every half second."""

    def words_heard(self, seconds: float) -> list[Word]:
        if seconds > self.limit:
            return [Word(start=0.3, end=1.2, word=" laughed.", probability=1.0)]
        return every_half_second(seconds)


def test_skipped_speech_after_a_stretched_sentence_end_is_tried_again_alone() -> None:
    # First pass: a word every half second, but "laughed." stretched from 9.5 s over the 8 s of
    # speech that follows it ("End of chapter six..."), then words again from 18 s.
    words = [Word(start=float(t), end=float(t) + 0.4, word=" w", probability=1.0)
             for t in np.arange(0.0, 9.5, 0.5)]
    words.append(Word(start=9.5, end=18.0, word=" laughed.", probability=1.0))
    words += [Word(start=float(t), end=float(t) + 0.4, word=" w", probability=1.0)
              for t in np.arange(18.0, 29.5, 0.5)]
    first = [Segment(start=0.0, end=29.9, text="", words=words)]
    window = Window(0.0, np.zeros(30 * SAMPLE_RATE, dtype=np.float32), [(0.0, 30.0)])
    engine = SentenceEndEngine(limit=8.5)
    coverage = Coverage()

    result = _recover_gaps(engine, window, first, "en", 1, 2.0, coverage)

    assert engine.retries[0] > 8.5  # grown over "laughed.": only that word heard
    assert engine.retries[1] < 8.5  # then the gap alone
    spoken = [word for segment in result for word in segment.words]
    assert [word.word for word in spoken].count(" laughed.") == 1  # kept, not replaced
    assert len(spoken) > len(words) + 10
    assert [word.start for word in spoken] == sorted(word.start for word in spoken)
    assert coverage.uncovered == []


class FillerAtTheEndEngine:
    """Hears a word every half second, ends each clip's last word with a full stop (the clips
    meet at the recording's pauses), and, like Whisper at the end of its input, adds a
    "Thank you." that nobody said."""

    name = "scripted"
    clips_apart = False
    model = "none"

    def __init__(self, **options: float) -> None:
        self.options = EngineOptions("none", "en", "int8", 1, True, 1, recover_seconds=0.0,
                                     **options)

    def transcribe_speech(self, speech: Speech, prompt: str | None, language: str | None,
                          beam_size: int = 0) -> Transcript:
        words = []
        for start, end in speech.clips:
            ticks = np.arange(start, end - 0.6, 0.5)
            words += [Word(start=float(t), end=float(t) + 0.4,
                           word=" w." if index == len(ticks) - 1 else " w", probability=1.0)
                      for index, t in enumerate(ticks)]
        words.append(Word(start=speech.seconds - 0.5, end=speech.seconds, word=" Thank you.",
                          probability=0.5))
        return heard(words)


def test_a_windows_last_sentence_is_decoded_again_with_what_follows_it(recording: Path) -> None:
    result = transcribe_file(FillerAtTheEndEngine(window_seconds=60.0), str(recording))
    words = all_words(result)
    # Only the recording's own end keeps the filler: every window's end was handed back.
    assert result.coverage.windows >= 4
    assert [word.word for word in words].count(" Thank you.") == 1
    assert words[-1].word == " Thank you."
    # Nothing decoded twice: one word per half second of speech, in order.
    starts = [word.start for word in words]
    assert starts == sorted(starts)
    assert all(after - before >= 0.25 for before, after in itertools.pairwise(starts))
    # ... and nothing lost: the words cover all sixteen sentences.
    sentences = {int(start // 14.0) for start in starts}
    assert sentences == set(range(16))


class JoinedUtterancesEngine(RetryScriptEngine):
    """Given more than `limit` seconds, two utterances joined end to end (their pause cut out),
    it hears only two words, as Whisper heard "CHAPTER 26" of the end of one chapter and the
    next one's LibriVox preamble retried together; one utterance, a word every half second."""

    def words_heard(self, seconds: float) -> list[Word]:
        return every_half_second(seconds, 0.5 if seconds <= self.limit else seconds / 2)


def test_a_skipped_stretch_of_two_utterances_is_retried_one_utterance_at_a_time() -> None:
    # "End of chapter six" (5 s), 8 s of silence, the next chapter's preamble (20 s): the first
    # pass heard none of it.
    window = Window(0.0, np.zeros(35 * SAMPLE_RATE, dtype=np.float32),
                    [(0.0, 5.0), (13.0, 33.0)])
    engine = JoinedUtterancesEngine(limit=21.0)
    coverage = Coverage()

    result = _recover_gaps(engine, window, [], "en", 1, 2.0, coverage)

    assert engine.retries == pytest.approx([5.0, 20.0])  # each alone, once
    spoken = [word for segment in result for word in segment.words]
    assert len(spoken) >= 45
    assert [word.start for word in spoken] == sorted(word.start for word in spoken)
    assert coverage.uncovered == []


class QuieterVoiceEngine(RetryScriptEngine):
    """Hears a word every half second of whatever it is given, as Whisper, given nothing
    louder to follow, writes down a voice in the background."""

    def __init__(self, quieter_voice_db: float) -> None:
        super().__init__(limit=0.0)
        self.options = EngineOptions("none", "en", "int8", 1, True, 1, recover_seconds=2.0,
                                     quieter_voice_db=quieter_voice_db)

    def words_heard(self, seconds: float) -> list[Word]:
        return every_half_second(seconds)


def reader_then_another_voice(gain: float, after: float = 1.0) -> tuple[Window, list[Segment]]:
    """11 s of a reader, 11 s in which only another voice speaks, `gain` times as loud, then
    the reader again, `after` times as loud; the first pass wrote the reader's words only, as
    Whisper does."""
    speech = samples_of(JFK)[:11 * SAMPLE_RATE]
    audio = np.concatenate([speech, speech * gain, speech * after]).astype(np.float32)
    reader = [Word(start=float(t), end=float(t) + 0.4, word=" w", probability=1.0)
              for t in [*np.arange(0.5, 10.5, 0.5), *np.arange(22.5, 32.5, 0.5)]]
    return (Window(0.0, audio, [(0.0, 33.0)]),
            [Segment(start=0.5, end=32.4, text="", words=reader)])


def test_a_voice_far_quieter_than_the_reader_is_reported_not_transcribed_again() -> None:
    window, first = reader_then_another_voice(gain=1 / 8)  # 18 dB down: a television
    engine = QuieterVoiceEngine(quieter_voice_db=10.0)
    coverage = Coverage()

    result = _recover_gaps(engine, window, first, "en", 1, 2.0, coverage)

    assert engine.retries == []
    assert result == first
    assert len(coverage.uncovered) == 1
    start, end = coverage.uncovered[0]
    assert 10.0 < start < 12.0 and 21.0 < end < 23.0
    assert coverage.quieter_seconds == coverage.uncovered_seconds > 9.0
    assert Coverage.from_dict(coverage.to_dict()).quieter_seconds == pytest.approx(
        coverage.quieter_seconds, abs=0.01)


@pytest.mark.parametrize(("gain", "after"), [(1 / 2, 1.0), (1 / 8, 1 / 8)],
                         ids=["the-reader-softer", "the-reader-moved-away"])
def test_skipped_speech_near_the_readers_loudness_is_transcribed_again(
        gain: float, after: float) -> None:
    # the-reader-softer: 6 dB down between two loud passages. the-reader-moved-away: the
    # reader 18 dB down from 11 s on, the first 11 s after the drop skipped: against the loud
    # side alone the gap is 18 dB down, against the quiet side that follows it level with it.
    window, first = reader_then_another_voice(gain, after)
    engine = QuieterVoiceEngine(quieter_voice_db=10.0)
    coverage = Coverage()

    result = _recover_gaps(engine, window, first, "en", 1, 2.0, coverage)

    assert len(engine.retries) == 1
    assert sum(len(segment.words) for segment in result) > 40 + 15
    assert coverage.uncovered == [] and coverage.quieter_seconds == 0.0


def test_with_the_quieter_voice_check_off_every_voice_is_transcribed_again() -> None:
    window, first = reader_then_another_voice(gain=1 / 8)
    engine = QuieterVoiceEngine(quieter_voice_db=0.0)
    coverage = Coverage()

    _recover_gaps(engine, window, first, "en", 1, 2.0, coverage)

    assert len(engine.retries) == 1
    assert coverage.quieter_seconds == 0.0


def reading_with_a_short_skip(cut: bool, skipped_from: float = 28.5
                               ) -> tuple[Window, list[Segment]]:
    """45 s of continuous reading, a word every half second, of which the first pass skipped
    the words in the 2 s from `skipped_from`: about 1.5 s of speech with no word, below
    WA_RECOVER_SECONDS (2 s). With `cut` the VAD split the reading at 30 s."""
    regions = [(0.0, 30.0), (30.1, 45.0)] if cut else [(0.0, 45.0)]
    words = [word for word in every_half_second(45.0)
             if not skipped_from <= word.start < skipped_from + 2.0]
    window = Window(0.0, np.zeros(45 * SAMPLE_RATE, dtype=np.float32), regions)
    return window, [Segment(start=0.0, end=44.5, text="", words=words)]


@pytest.mark.parametrize("skipped_from", [28.5, 30.5], ids=["across-the-cut", "just-after-it"])
def test_a_short_skip_at_the_vads_thirty_second_cut_is_transcribed_again(
        skipped_from: float) -> None:
    window, first = reading_with_a_short_skip(cut=True, skipped_from=skipped_from)
    engine = QuieterVoiceEngine(quieter_voice_db=0.0)  # hears a word every half second
    coverage = Coverage()

    result = _recover_gaps(engine, window, first, "en", 1, 2.0, coverage)

    assert len(engine.retries) == 1
    assert sum(len(segment.words) for segment in result) > len(first[0].words)
    assert coverage.gaps_found == 1 and coverage.recovered_seconds > 1.0


class SequentialEngine(QuieterVoiceEngine):
    clips_apart = False  # decodes the joined speech by its own timestamps, as Whisper does


@pytest.mark.parametrize(("cut", "engine_class"),
                         [(False, QuieterVoiceEngine), (True, SequentialEngine)],
                         ids=["no-cut-in-one-stretch-of-speech", "engine-decodes-across-cuts"])
def test_a_short_skip_is_left_as_it_is_where_no_clip_ends(
        cut: bool, engine_class: type[QuieterVoiceEngine]) -> None:
    window, first = reading_with_a_short_skip(cut=cut)
    engine = engine_class(quieter_voice_db=0.0)
    coverage = Coverage()

    result = _recover_gaps(engine, window, first, "en", 1, 2.0, coverage)

    assert engine.retries == [] and result == first and coverage.gaps_found == 0
